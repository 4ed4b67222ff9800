"""What one v1 demo server keeps between requests, and the route dependencies every router shares.

``app.state.demo`` is a :class:`V1State`: the v2 demo's :class:`..state.DemoState` (settings, counters,
tokens, S3 client, job runner), so that the token endpoint, ``current_user`` and the ``/_demo`` routes
serve it unchanged, plus v1's tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request

from .. import s3
from ..jobs import JobRunner
from ..s3 import S3Client
from ..state import DemoState
from .errors import V1Error, machine_missing, machine_unknown
from .tasks import TaskStore

__all__ = (
    'FormText',
    'Machine',
    'SourceForm',
    'State',
    'TargetForm',
    'V1State',
    'machine_name',
    'runner',
    's3_client',
    'v1_state',
)


@dataclasses.dataclass
class V1State(DemoState):
    """The v2 demo's state, plus v1's tasks, the scripts of the jobs and the work running behind tasks."""

    tasks: TaskStore = dataclasses.field(default_factory=TaskStore)
    job_files: dict[int, str] = dataclasses.field(default_factory=dict)
    """The script each submitted job was submitted with."""
    background: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)
    """Running background work (tasks' coroutines), kept so that they are not garbage-collected."""

    def spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` in the background (a task's work, after the answer that created it)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def shutdown(self) -> None:
        """Cancel the tasks' work, then stop the jobs."""
        for task in list(self.background):
            task.cancel()
        super().shutdown()


def v1_state(request: Request) -> V1State:
    state: V1State = request.app.state.demo
    return state


def runner(state: V1State) -> JobRunner:
    """The server's Slurm-like job runner, created on first use."""
    return state.job_runner()


async def s3_client(state: V1State) -> S3Client:
    """The S3 client of the staging area, with its bucket created on first use.

    :raises V1Error: if the server has no S3 endpoint.
    """
    if state.s3_client is None:
        endpoint = state.settings.s3_endpoint
        if endpoint is None:
            raise V1Error(400, 'Staging area not available', 'No object storage is configured')
        client = await asyncio.to_thread(s3.make_client, endpoint)
        await asyncio.to_thread(s3.ensure_bucket, client, state.settings.s3_bucket)
        state.s3_client = client
    return state.s3_client


def machine_name(request: Request, x_machine_name: Annotated[str | None, Header()] = None) -> str:
    """The ``X-Machine-Name`` of the request, checked against the server's one system."""
    if not x_machine_name:
        raise machine_missing()
    if x_machine_name != v1_state(request).settings.system_name:
        raise machine_unknown('Failed operation', request.url.path.strip('/').split('/')[0])
    return x_machine_name


Machine = Annotated[str, Depends(machine_name)]
"""Annotation for a route parameter holding the validated ``X-Machine-Name``."""
State = Annotated[V1State, Depends(v1_state)]
"""Annotation for a route parameter holding the server's state."""
FormText = Annotated[str | None, Form()]
SourceForm = Annotated[str | None, Form(alias='sourcePath')]
TargetForm = Annotated[str | None, Form(alias='targetPath')]
