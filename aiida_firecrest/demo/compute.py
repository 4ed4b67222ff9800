"""Demo server: the ``/compute/{system}/jobs`` endpoints (submit, list, get, metadata, cancel, attach).

They drive the local job runner (:mod:`.jobs`) and answer with the real server's shapes, status
codes and Slurm error texts (exchanges 40-54). Bodies accept the documented camelCase keys and
their snake_case names (pyfirecrest sends ``working_directory``).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParameter

from .auth import CurrentUser, SystemName
from .errors import remote_errors
from .job_model import Job, JobRequest
from .routing import CamelModel, no_content
from .slurm import HISTORY_SECONDS, LEGACY_HISTORY
from .state import job_runner

router = APIRouter()

JobId = Annotated[str, PathParameter(pattern=r'^[a-zA-Z0-9]+$')]
"""A ``{job_id}`` path parameter: letters and digits only (others: 400, as on the real server)."""


class TimeWindow(str, Enum):
    """The ``time_window`` choices (an enum, as on the real server: its validation error says ``enum``)."""

    hour = '1h'
    eight_hours = '8h'
    day = '24h'
    three_days = '3d'
    week = '7d'


class JobDescription(CamelModel):
    working_directory: str
    name: str | None = None
    account: str | None = None
    reservation: str | None = None
    partition: str | None = None
    standard_input: str | None = None
    standard_output: str | None = None
    standard_error: str | None = None
    env: dict[str, str] | list[str] | None = None
    constraints: str | None = None
    script: str | None = None
    script_path: str | None = None

    def request(self) -> JobRequest:
        env = self.env or {}
        if isinstance(env, list):
            env = dict(item.partition('=')[::2] for item in env)
        return JobRequest(
            working_directory=self.working_directory,
            script=self.script,
            script_path=self.script_path,
            name=self.name,
            partition=self.partition,
            account=self.account,
            standard_input=self.standard_input,
            standard_output=self.standard_output,
            standard_error=self.standard_error,
            env=env,
        )


class JobSubmitRequest(CamelModel):
    job: JobDescription


class JobAttachRequest(CamelModel):
    command: str


def _find(request: Request, job_id: str, user: str) -> Job:
    """The job, or the real server's error for one its scheduler does not know."""
    runner = job_runner(request)
    job = runner.find(job_id)
    if job is None:
        raise runner.not_found_error(job_id, user)
    return job


@router.post('/compute/{system_name}/jobs', status_code=201)
async def submit_job(
    request: Request, body: JobSubmitRequest, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    with remote_errors(user):
        job = await job_runner(request).submit(body.job.request())
    return {'jobId': str(job.id)}


@router.get('/compute/{system_name}/jobs')
async def list_jobs(
    request: Request,
    system: SystemName,
    allusers: bool = False,
    account: str | None = None,
    name: Annotated[str | None, Query(max_length=235)] = None,
    time_window: TimeWindow | None = None,
) -> dict[str, Any]:
    """The user's jobs: the pending and running ones, and those that ended within the ``time_window``.

    The window defaults to the ``jobs_default_time_window`` setting. A server without the parameter
    (setting None: before 2.5.7) ignores it and lists the jobs of the last 7 days (this one still
    refuses a value that is not a window). ``allusers`` is declared (as on the real server) and not
    used: this server has one user. ``GET .../jobs/{id}`` has no window, as on the real server.
    """
    runner = job_runner(request)
    default = runner.settings.jobs_default_time_window
    window = LEGACY_HISTORY if default is None else (time_window.value if time_window else default)
    # PBS's qstat -x lists what PBS keeps in its history, whatever the window (the real server ignores it)
    history = None if runner.settings.scheduler == 'pbs' else HISTORY_SECONDS[window]
    listed = runner.jobs(name=name, account=account, history=history)
    return {'jobs': [runner.record(job) for job in listed]}


@router.get('/compute/{system_name}/jobs/{job_id}')
async def get_job(request: Request, job_id: JobId, system: SystemName, user: CurrentUser) -> dict[str, Any]:
    return {'jobs': [job_runner(request).record(_find(request, job_id, user))]}


@router.get('/compute/{system_name}/jobs/{job_id}/metadata')
async def get_job_metadata(
    request: Request, job_id: JobId, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    return {'jobs': [job_runner(request).metadata(_find(request, job_id, user))]}


@router.delete('/compute/{system_name}/jobs/{job_id}', status_code=204)
async def cancel_job(request: Request, job_id: JobId, system: SystemName, user: CurrentUser) -> Response:
    with remote_errors(user):
        job_runner(request).cancel(job_id)
    return no_content()


@router.put('/compute/{system_name}/jobs/{job_id}/attach', status_code=204)
async def attach_to_job(
    request: Request, job_id: JobId, body: JobAttachRequest, system: SystemName, user: CurrentUser
) -> Response:
    with remote_errors(user):
        await job_runner(request).attach(job_id, body.command)
    return no_content()
