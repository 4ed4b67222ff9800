"""The mutable state of one running demo server, shared by all its routers (``app.state.demo``)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from fastapi import Request

from .jobs import JobRunner
from .pbs_jobs import PbsJobRunner
from .settings import DemoSettings

__all__ = ('DemoState', 'job_runner')


@dataclasses.dataclass
class DemoState:
    """What one demo server keeps between requests."""

    settings: DemoSettings
    counters: Counter[str] = dataclasses.field(default_factory=Counter)
    """Requests to FirecREST per endpoint, keyed ``'METHOD /route/template'``."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Per-module state (tokens, the middleware's bookkeeping, the S3 client), keyed by module name."""
    started_jobs: JobRunner | None = None
    """The job runner, once a job was started (:func:`job_runner`)."""


def job_runner(request: Request) -> JobRunner:
    """The job runner of the server answering ``request``, created on first use (PBS-like on a PBS system)."""
    state: DemoState = request.app.state.demo
    if state.started_jobs is None:
        kind = PbsJobRunner if state.settings.scheduler == 'pbs' else JobRunner
        state.started_jobs = kind(state.settings)
    return state.started_jobs
