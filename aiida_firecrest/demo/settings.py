"""Settings of one demo FirecREST server: its system, file systems, credentials and switches."""

from __future__ import annotations

import dataclasses
import getpass
import grp
import os
from pathlib import Path
from typing import Any

from . import versions

MIB = 1024 * 1024

SYSTEM_NAMES = {'slurm': 'cluster-slurm-ssh', 'pbs': 'cluster-pbs'}
"""The system a demo publishes for each scheduler (the names FirecREST's own demo configuration uses)."""


@dataclasses.dataclass
class FaultRule:
    """Inject a failure into matching requests (a switch for reliability tests).

    :param kind: ``'429'`` (with ``Retry-After``), ``'500'``, ``'503'``, ``'drop'`` (close the connection)
        or ``'drop-after'`` (serve the request, then close the connection without its answer: a lost answer).
    :param every: fail every Nth matching request (1 = all of them).
    :param endpoint: only requests whose path contains this string (``None`` = every FirecREST request).
    :param count: stop after this many injected failures (``None`` = no limit).
    :param retry_after: the ``Retry-After`` value in seconds: of a ``'429'`` (1 if not given), of a ``'503'``
        (none if not given: a proxy's or a maintenance page's 503 may have one, FirecREST's own has not).
    """

    kind: str
    every: int = 1
    endpoint: str | None = None
    count: int | None = None
    retry_after: float | None = None


@dataclasses.dataclass
class DemoSettings:
    """Everything that makes one demo server; serialisable to JSON for the server subprocess."""

    root: Path
    """Base directory: the file systems are ``root/home`` and ``root/scratch``."""
    scheduler: str = 'slurm'
    """The published system's scheduler, ``slurm`` or ``pbs``: its directives, job records and errors."""
    system_name: str = ''
    """The published system; empty: the scheduler's name in :data:`SYSTEM_NAMES`."""
    username: str = dataclasses.field(default_factory=getpass.getuser)
    account: str = 'myproject'
    client_id: str = 'firecrest-demo-client'
    client_secret: str = 'firecrest-demo-secret'
    token_lifetime: float = 3600
    min_token_ttl: float = 30
    max_ops_file_size: int = 5 * MIB
    command_timeout: float = 10
    """Seconds after which a hanging remote command answers 408 (real server: ssh commandExecution)."""
    s3_endpoint: str | None = None
    """URL of the S3 endpoint for staged transfers (moto's server), or None to disable them."""
    s3_bucket: str = 'firecrest-demo'
    s3_max_part_size: int = 1024 * MIB
    ingress_poll_interval: float = 0.5
    """How often the upload transfer job looks for the object in S3 (real server: 60 s)."""
    latency: float = 0.0
    """A fixed delay added to every FirecREST request, in seconds."""
    faults: list[FaultRule] = dataclasses.field(default_factory=list)
    job_not_found_for: float = 0.0
    """A job answers 404 for this many seconds after submission (the real Slurm database lags)."""
    placeholder_record_for: float = 3.0
    """For this many seconds after a job that ran under a second ended, its record is Slurm's placeholder
    ('allocation', no partition: the accounting learnt of the batch step first); 0 = never."""
    jobs_default_time_window: str | None = '24h'
    """How far back ``GET /compute/{system}/jobs`` lists finished jobs by default (None: no ``time_window``
    parameter, 7 days), as a release of ``server_version`` does (:func:`.versions.settings_for`)."""
    job_age_offset: float = 0.0
    """Seconds added to the age of every finished job for the job list's time window (a clock trick)."""
    server_version: str = '2.x.x'
    """The FirecREST release the server answers as (:data:`.versions.VERSIONS`); ``2.x.x``: as recorded."""
    transfer_method: str = 's3'
    """The staged transfer method the system offers: ``s3``, ``streamer`` or ``wormhole`` (only s3 works)."""

    def __post_init__(self) -> None:
        if self.scheduler not in SYSTEM_NAMES:
            raise ValueError(f'scheduler must be one of {", ".join(SYSTEM_NAMES)}, not {self.scheduler!r}')
        self.system_name = self.system_name or SYSTEM_NAMES[self.scheduler]
        # a release that cannot be: ValueError
        versions.server_version(self.server_version, self.transfer_method)

    @property
    def home_root(self) -> Path:
        return self.root / 'home'

    @property
    def scratch_root(self) -> Path:
        return self.root / 'scratch'

    @property
    def home(self) -> Path:
        return self.home_root / self.username

    @property
    def scratch(self) -> Path:
        return self.scratch_root / self.username

    @property
    def uid(self) -> int:
        return os.getuid()

    @property
    def gid(self) -> int:
        return os.getgid()

    @property
    def group(self) -> str:
        try:
            return grp.getgrgid(self.gid).gr_name
        except KeyError:
            return str(self.gid)

    def create_directories(self) -> None:
        for path in (self.home, self.scratch):
            path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_release(cls, server_version: str, **fields: Any) -> DemoSettings:
        """Settings of a server of release ``server_version``: what the release implies, then ``fields``.

        :raises ValueError: for a release the demo cannot be (see :mod:`.versions`).
        """
        return cls(**{**versions.settings_for(server_version), **fields})

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data['root'] = str(self.root)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoSettings:
        data = dict(data)
        data['root'] = Path(data['root'])
        data['faults'] = [FaultRule(**rule) for rule in data.get('faults', [])]
        return cls(**data)
