"""The pieces behind the fixtures of ``tests/conftest.py``: server handles, the request log, helpers.

A test talks to one FirecREST v2 server per session, described by a connection dict (the JSON that
``python firecrest_demo.py serve --config-out FILE`` writes and ``--firecrest-config FILE`` reads):

* :class:`DemoHandle`: the demo server started by the harness (``is_demo`` True: counters, switches);
* :class:`RemoteHandle`: any other FirecREST v2 server (a real centre, FirecREST's docker demo).

:class:`InProcessDemo` is the fast tier: the demo app called in-process through httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import posixpath
import re
import secrets
import shutil
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest

from aiida_firecrest.capabilities import SCHEDULER_ENTRY_POINTS
from aiida_firecrest.demo.launcher import WORK_DIRECTORIES, DemoServer, connection_details
from aiida_firecrest.demo.settings import SYSTEM_NAMES, DemoSettings
from aiida_firecrest.pbs import FirecrestPbsScheduler
from aiida_firecrest.scheduler import FirecrestScheduler

if TYPE_CHECKING:
    from aiida_firecrest.demo.state import DemoState

SESSION_API = pytest.StashKey[str]()
"""The FirecREST API of the session's server, ``'1'`` or ``'2'`` (in ``config.stash``, for collection)."""

REQUIRED_KEYS = (
    'url',
    'token_uri',
    'client_id',
    'client_secret',
    'compute_resource',
    'temp_directory',
    'workdir',
)
"""Required keys of a ``--firecrest-config`` file; ``billing_account``, ``home``, ``scheduler`` optional."""

SCHEDULERS = tuple(SYSTEM_NAMES)
"""The schedulers a demo can publish (``--firecrest-scheduler``) and a server's ``scheduler`` key names."""

DOCKER_DEMO_CONFIG: dict[str, Any] = {
    'url': 'http://localhost:8000',
    'token_uri': 'http://localhost:8080/auth/realms/kcrealm/protocol/openid-connect/token',
    'client_id': 'firecrest-test-client',
    # The public, documented test credential of FirecREST's docker demo (not a secret of any real system).
    'client_secret': 'wZVHVIEd9dkJDh9hMKc6DTvkqXxnDttk',
    'compute_resource': 'cluster-slurm-api',
    'temp_directory': '/home/fireuser/aiida-tmp',
    'workdir': '/home/fireuser/aiida-work',
    'billing_account': 'myproject',
    'home': '/home/fireuser',
}
"""Connection details of FirecREST's official docker demo (its ``docker-compose.yml`` defaults)."""

ASGI_URL = 'http://firecrest-demo.asgi'
"""Base URL of the in-process demo app (never resolved: httpx hands requests to the app directly)."""


class HarnessConfigError(ValueError):
    """A ``--firecrest-config`` file that cannot describe a FirecREST server."""


def load_server_config(path: Path) -> dict[str, Any]:
    """Read and check a ``--firecrest-config`` JSON file.

    :raises HarnessConfigError: if it is missing, not a JSON object, or lacks a required key.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessConfigError(f'cannot read the FirecREST config {path}: {exc}') from exc
    if not isinstance(data, dict):
        raise HarnessConfigError(f'the FirecREST config {path} must hold a JSON object')
    missing = [key for key in REQUIRED_KEYS if not data.get(key)]
    if missing:
        raise HarnessConfigError(f'the FirecREST config {path} lacks {", ".join(missing)}')
    return data


def scheduler_of(config: Mapping[str, Any]) -> str:
    """The scheduler of the server a connection dict describes: its ``scheduler`` key, Slurm if absent."""
    return str(config.get('scheduler') or 'slurm')


@dataclasses.dataclass(frozen=True)
class JobDialect:
    """How the tests write job scripts for the session's scheduler, and what its job records then say."""

    scheduler_class: type[FirecrestScheduler]
    entry_point: str
    job_name: str
    """A directive naming the job ``ok-job``."""
    hold: str
    """A directive submitting the job held."""
    one_second_limit: str
    """A directive limiting the job to one second."""
    unknown_queue: str
    """A directive naming a queue (partition) the system does not have."""
    unknown_queue_error: str
    """What the server's error for it says."""
    completed: str
    failed: str
    cancelled: str
    """The beginning of a cancelled job's substate."""
    timed_out: str
    held_annotation: str | None
    gpus_and_exclusive: frozenset[str]
    """The submit script's lines for two GPUs per node and exclusive nodes, on one node."""


DIALECTS = {
    'slurm': JobDialect(
        scheduler_class=FirecrestScheduler,
        entry_point=SCHEDULER_ENTRY_POINTS['slurm'],
        job_name='#SBATCH --job-name=ok-job',
        hold='#SBATCH --hold',
        one_second_limit='#SBATCH --time=00:00:01',
        unknown_queue='#SBATCH --partition=no-such-partition',
        unknown_queue_error='partition',
        completed='COMPLETED',
        failed='FAILED',
        cancelled='CANCELLED',
        timed_out='TIMEOUT',
        held_annotation='JobHeldUser',
        gpus_and_exclusive=frozenset({'#SBATCH --gpus-per-node=2', '#SBATCH --exclusive'}),
    ),
    'pbs': JobDialect(
        scheduler_class=FirecrestPbsScheduler,
        entry_point=SCHEDULER_ENTRY_POINTS['pbs'],
        job_name='#PBS -N ok-job',
        hold='#PBS -h',
        one_second_limit='#PBS -l walltime=00:00:01',
        unknown_queue='#PBS -q no-such-queue',
        unknown_queue_error='Unknown queue',
        completed='F',
        failed='F',
        cancelled='F',
        timed_out='F',
        held_annotation=None,
        gpus_and_exclusive=frozenset({'#PBS -l select=1:mpiprocs=1:ngpus=2', '#PBS -l place=excl'}),
    ),
}
"""The job dialect of each scheduler in :data:`SCHEDULERS`."""


def dir_name_for(test_name: str, max_length: int = 60) -> str:
    """A directory name for a test: its name made safe for a path, plus a random suffix so it is fresh."""
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name).strip('_.')[:max_length]
    return f'{safe or "test"}-{secrets.token_hex(3)}'


def docker_engine_problem() -> str | None:
    """Why FirecREST's docker demo cannot run here, or None when a docker engine with compose answers."""
    if shutil.which('docker') is None:
        return 'no `docker` executable on PATH'
    for command in (['docker', 'info'], ['docker', 'compose', 'version']):
        try:
            result = subprocess.run(command, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f'`{" ".join(command)}` failed: {exc}'
        if result.returncode != 0:
            return f'`{" ".join(command)}` failed: {result.stderr.decode(errors="replace").strip()[:200]}'
    return None


class RemoteHandle:
    """A FirecREST server the harness did not start (v2, or v1 if its details say ``api_version`` 1): only
    what every server offers."""

    is_demo = False

    def __init__(self, config: Mapping[str, Any], description: str) -> None:
        self.config: dict[str, Any] = dict(config)
        self.description = description
        """Where the server comes from, for skip messages and the report header."""

    def counters(self) -> dict[str, int]:
        raise RuntimeError(f'request counters exist only on the demo server, not on {self.description}')

    def reset_counters(self) -> None:
        raise RuntimeError(f'request counters exist only on the demo server, not on {self.description}')

    def switches(self, **switches: Any) -> contextlib.AbstractContextManager[dict[str, Any]]:
        raise RuntimeError(f'switches exist only on the demo server, not on {self.description}')


class DemoHandle:
    """The demo server started by the harness (``aiida_firecrest.demo.launcher.DemoServer``)."""

    is_demo = True
    description = 'the demo server'

    def __init__(self, server: DemoServer) -> None:
        self.server = server
        """The running ``DemoServer``."""

    @property
    def config(self) -> dict[str, Any]:
        return self.server.config

    @property
    def settings(self) -> DemoSettings:
        return self.server.settings

    def counters(self) -> dict[str, int]:
        """Requests per endpoint (``'METHOD /route/template'``) since the last reset."""
        return self.server.counters()

    def reset_counters(self) -> None:
        self.server.reset_counters()

    def current_switches(self) -> dict[str, Any]:
        """The switches in force (``latency``, ``faults``, ``job_not_found_for``)."""
        response = httpx.get(f'{self.config["url"]}/_demo/switches', timeout=10.0)
        response.raise_for_status()
        return cast('dict[str, Any]', response.json())

    @contextlib.contextmanager
    def switches(self, **switches: Any) -> Iterator[dict[str, Any]]:
        """Set switches for the block, then restore those it changed; yields the switches in force."""
        before = self.current_switches()
        try:
            yield self.server.set_switches(**switches)
        finally:
            self.server.set_switches(**{name: before[name] for name in switches if name in before})


class InProcessDemo(httpx.ASGITransport):
    """The fast tier: an ``httpx.AsyncBaseTransport`` that calls a demo app in this process.

    The app's lifespan starts in the event loop of the first request (so that what it starts lives in
    that loop); :meth:`shutdown` ends it (which stops the jobs that still run).
    ``settings`` is the live :class:`DemoSettings`: change ``latency``, ``faults`` or
    ``job_not_found_for`` on it to flip a switch in-process.
    """

    def __init__(self, settings: DemoSettings) -> None:
        from aiida_firecrest.demo.app import create_app

        self.demo_app = create_app(settings)
        super().__init__(app=self.demo_app)
        self.settings = settings
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None
        for name in WORK_DIRECTORIES:
            (settings.scratch / name).mkdir(parents=True, exist_ok=True)

    @property
    def state(self) -> DemoState:
        """The app's shared state (``counters``, ``tokens``...)."""
        return self.demo_app.demo

    @property
    def config(self) -> dict[str, Any]:
        """Connection details in the ``--config-out`` format, with :data:`ASGI_URL` as the server."""
        return connection_details(self.settings, ASGI_URL)

    def counters(self) -> dict[str, int]:
        return dict(self.state.counters)

    def reset_counters(self) -> None:
        self.state.counters.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._lifespan is None:
            self._lifespan = self.demo_app.router.lifespan_context(self.demo_app)
            await self._lifespan.__aenter__()
        return await super().handle_async_request(request)

    def shutdown(self) -> None:
        """End the app's lifespan if it was started (outside any event loop: the tests' loops are gone)."""
        if self._lifespan is not None:
            lifespan, self._lifespan = self._lifespan, None
            asyncio.run(lifespan.__aexit__(None, None, None))


class RequestLog:
    """Requests to FirecREST per test, by endpoint, for ``--firecrest-requests``."""

    def __init__(self) -> None:
        self.by_test: dict[str, Counter[str]] = {}

    def record(self, test_id: str, counts: Mapping[str, int]) -> None:
        if any(counts.values()):
            self.by_test.setdefault(test_id, Counter()).update(counts)

    def report_lines(self) -> list[str]:
        """The lines printed at the end of the session: one block per test, busiest endpoint first."""
        lines: list[str] = []
        for test_id, counts in self.by_test.items():
            lines.append(f'{test_id}: {_requests(sum(counts.values()))}')
            lines.extend(f'    {count:5d}  {endpoint}' for endpoint, count in counts.most_common())
        total = sum(sum(counts.values()) for counts in self.by_test.values())
        lines.append(f'{len(self.by_test)} tests made {_requests(total)} to FirecREST')
        return lines


def _requests(count: int) -> str:
    return f'{count} request' if count == 1 else f'{count} requests'


class RemoteFiles:
    """Files on the server, set up and inspected with pyfirecrest's sync client, independently of our code.

    Works on any FirecREST v2 server (nothing is read through the local disk). Paths are absolute on the
    server; ``local`` is a private local directory for archives and mirrors.
    """

    def __init__(self, client: Any, system: str, local: Path) -> None:
        self._client = client
        self._system = system
        self._local = local

    def populate(
        self, root: Any, files: Mapping[str, str | bytes], links: Mapping[str, str] | None = None
    ) -> None:
        """Create ``files`` (relative path: content) and symbolic ``links`` (relative path: target) under
        the existing directory ``root``, as one archive extracted by the server (any name, any size)."""
        archive = self._local / f'populate-{secrets.token_hex(4)}.tar.gz'
        with tarfile.open(archive, 'w:gz') as tar:
            for relative, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(relative)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
            for relative, target in (links or {}).items():
                info = tarfile.TarInfo(relative)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
        remote_archive = f'{root}/{archive.name}'
        self._client.upload(self._system, archive, str(root), archive.name)
        try:
            self._client.extract(self._system, remote_archive, str(root))
        finally:
            self._client.rm(self._system, remote_archive)
            archive.unlink()

    def write(self, path: Any, content: str | bytes) -> None:
        """Create or replace one file."""
        directory, name = posixpath.split(str(path))
        self.populate(directory, {name: content})

    def mkdir(self, path: Any, mode: int | None = None) -> None:
        """Create a directory (and its parents), with ``mode`` if given."""
        self._client.mkdir(self._system, str(path), create_parents=True)
        if mode is not None:
            self.chmod(path, mode)

    def chmod(self, path: Any, mode: int) -> None:
        self._client.chmod(self._system, str(path), f'{mode:o}')

    def exists(self, path: Any) -> bool:
        """Whether ``path`` exists (a dangling link exists)."""
        from firecrest import FirecrestException

        try:
            self._client.stat(self._system, str(path))
        except FirecrestException as exc:
            if exc.responses[-1].status_code == 404:
                return False
            raise
        return True

    def names(self, directory: Any) -> list[str]:
        """The sorted names in ``directory``, hidden ones included (as the server's ``ls`` writes them)."""
        entries = self._client.list_files(self._system, str(directory), show_hidden=True)
        return sorted(entry['name'] for entry in entries)

    def mirror(self, path: Any) -> Path:
        """A local copy of the remote file or tree ``path`` (links kept as links), by the server's tar."""
        remote = str(path).rstrip('/')
        remote_archive = f'{posixpath.dirname(remote)}/.mirror-{secrets.token_hex(4)}.tar.gz'
        local_archive = self._local / posixpath.basename(remote_archive)
        self._client.compress(self._system, remote, remote_archive)
        try:
            self._client.download(self._system, remote_archive, str(local_archive))
        finally:
            self._client.rm(self._system, remote_archive)
        destination = self._local / f'mirror-{secrets.token_hex(4)}'
        with tarfile.open(local_archive) as tar:
            tar.extractall(destination, filter='fully_trusted')
        local_archive.unlink()
        return destination / posixpath.basename(remote)

    def read_bytes(self, path: Any) -> bytes:
        return self.mirror(path).read_bytes()

    def read_text(self, path: Any) -> str:
        return self.mirror(path).read_text()


def store_firecrest_computer(
    label: str,
    hostname: str,
    workdir: str,
    transport_params: dict[str, Any],
    poll_interval: float,
    description: str = '',
    scheduler_type: str = 'firecrest',
) -> Any:
    """A stored ``orm.Computer`` with the ``firecrest`` transport, configured in the loaded profile.

    Its scheduler is ``scheduler_type`` (``firecrest``, or ``firecrest.pbs`` for a PBS system). Jobs are
    polled every ``poll_interval`` seconds and the transport may be opened again at once.
    """
    from aiida import orm

    computer = orm.Computer(
        label=label,
        hostname=hostname,
        description=description,
        transport_type='firecrest',
        scheduler_type=scheduler_type,
        workdir=workdir,
    ).store()
    computer.set_minimum_job_poll_interval(poll_interval)
    computer.set_default_mpiprocs_per_machine(1)
    computer.configure(safe_interval=0, **transport_params)
    return computer
