"""The mutable state of one running demo server, shared by its routers and its ASGI layers.

:func:`create_app <.app.create_app>` keeps one :class:`DemoState` in ``app.state.demo``; a route gets it
with :func:`demo_state`, the outer ASGI layers are given it when the app is built.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from starlette.requests import HTTPConnection

from .jobs import JobRunner
from .pbs_jobs import PbsJobRunner
from .s3 import S3Client
from .settings import DemoSettings, FaultRule

__all__ = ('DemoState', 'FaultBookkeeping', 'demo_state', 'job_runner')


@dataclasses.dataclass
class FaultBookkeeping:
    """How many requests each rule of one ``settings.faults`` list has seen and failed."""

    rules: list[FaultRule]
    seen: list[int]
    injected: list[int]


@dataclasses.dataclass
class DemoState:
    """What one demo server keeps between requests."""

    settings: DemoSettings
    counters: Counter[str] = dataclasses.field(default_factory=Counter)
    """Requests to FirecREST per endpoint, keyed ``'METHOD /route/template'``."""
    tokens: dict[str, float] = dataclasses.field(default_factory=dict)
    """The bearer tokens :mod:`.auth` issued, and their expiry times (epoch seconds)."""
    faults: FaultBookkeeping | None = None
    """The fault rules in force and what they counted (:mod:`.middleware`), once a request was seen."""
    s3_client: S3Client | None = None
    """The client of the S3 endpoint, once a staged transfer needed it (:mod:`.transfer`)."""
    jobs: JobRunner | None = None
    """The job runner, once a job was started (:meth:`job_runner`)."""

    def job_runner(self) -> JobRunner:
        """The job runner, created on first use (PBS-like on a PBS system)."""
        if self.jobs is None:
            kind = PbsJobRunner if self.settings.scheduler == 'pbs' else JobRunner
            self.jobs = kind(self.settings)
        return self.jobs

    def shutdown(self) -> None:
        """Stop the jobs that still run (the server is going away)."""
        if self.jobs is not None:
            self.jobs.shutdown()


def demo_state(connection: HTTPConnection) -> DemoState:
    """The state of the demo server answering ``connection`` (a request)."""
    state = connection.app.state.demo
    if not isinstance(state, DemoState):
        raise TypeError(f'not a demo server app: its state.demo is {state!r}')
    return state


def job_runner(connection: HTTPConnection) -> JobRunner:
    """The job runner of the server answering ``connection``, created on first use."""
    return demo_state(connection).job_runner()
