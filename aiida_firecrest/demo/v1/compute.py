"""``/compute`` of FirecREST v1: Slurm through tasks (a request answers a task id; its data is the result).

* ``POST /compute/jobs/upload`` (the script as a file) and ``POST /compute/jobs/path`` (``target_path`` on
  the system, run in its directory): the task's data is ``{"jobid", "result", "job_file", ...}``;
* ``GET /compute/jobs`` (``squeue``: the user's pending and running jobs) and ``GET /compute/acct``
  (``sacct -X``: also the finished ones, since midnight unless ``starttime`` is given);
* ``DELETE /compute/jobs/{id}`` (``scancel``).

The jobs run in the v2 demo's :class:`~..jobs.JobRunner`; their records are written as the v1 server's
``squeue`` / ``sacct`` parsers give them (strings: ``"jobid": "3"``, ``"exit_code": "0:0"``).
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from ..auth import CurrentUser
from ..errors import RemoteCommandError
from ..job_model import Job, JobRequest
from .errors import V1Error
from .paths import invalid_input
from .state import FormText, Machine, State, TargetForm, V1State, runner
from .tasks import ERROR, SUCCESS, Task

__all__ = ('acct_record', 'router', 'squeue_record', 'submitted')

router = APIRouter(prefix='/compute')


def _created(task: Task) -> dict[str, Any]:
    return {'success': 'Task created', 'task_id': task.hash_id, 'task_url': f'/tasks/{task.hash_id}'}


def _duration(seconds: float | None) -> str:
    """``[D-]HH:MM:SS``, as sacct prints elapsed times."""
    total = max(0, int(seconds or 0))
    days, rest = divmod(total, 86400)
    text = f'{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}'
    return f'{days}-{text}' if days else text


def _squeue_time(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``, as squeue's ``%M`` prints them."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    return f'{hours}:{rest // 60:02d}:{rest % 60:02d}' if hours else f'{rest // 60}:{rest % 60:02d}'


def _moment(epoch: float | None, missing: str) -> str:
    if epoch is None:
        return missing
    return datetime.datetime.fromtimestamp(epoch).strftime('%Y-%m-%dT%H:%M:%S')


def _job_files(state: V1State, job: Job) -> dict[str, str]:
    return {
        'job_file': state.job_files.get(job.id, ''),
        'job_file_out': job.spec.standard_output,
        'job_file_err': job.spec.standard_error,
        'job_data_out': '',
        'job_data_err': '',
    }


def submitted(state: V1State, job: Job) -> dict[str, Any]:
    """The data of a successful submission task."""
    return {'result': 'Job submitted', 'jobid': job.id, **_job_files(state, job)}


def squeue_record(state: V1State, job: Job) -> dict[str, Any]:
    """``squeue --format=%i|%P|%j|%u|%T|%M|%S|%L|%D|%R`` of an active job, as the server parses it."""
    ran = 0.0 if job.start is None else time.time() - job.start
    running = job.start is not None
    limit = job.spec.time_limit
    left = 'UNLIMITED' if limit is None else _squeue_time(limit - ran)
    reason = runner(state).hostname if running else f'({job.reason})'
    return {
        'jobid': str(job.id),
        'partition': job.spec.partition,
        'name': job.spec.name,
        'user': state.settings.username,
        'state': job.state,
        'start_time': _moment(job.start, 'N/A'),
        'time': _squeue_time(ran),
        'time_left': left,
        'nodes': '1',
        'nodelist': reason,
        **_job_files(state, job),
    }


def acct_record(state: V1State, job: Job) -> dict[str, Any]:
    """A job as the server parses ``sacct -X --parsable2 --format=jobid,partition,jobname,user,state,start,
    cputime,end,NNodes,NodeList,ExitCode,elapsed``."""
    elapsed = None if job.start is None else (job.end or time.time()) - job.start
    end = _moment(job.end, 'Unknown')
    return {
        'jobid': str(job.id),
        'partition': job.spec.partition,
        'name': job.spec.name,
        'user': state.settings.username,
        'state': job.state,
        'start_time': _moment(job.start, 'Unknown'),
        'time': _duration(elapsed),
        'cpu_time': _duration(elapsed),
        'elapsed_time': _duration(elapsed),
        'termination_time': end,
        'time_left': end,
        'nodes': '1',
        'nodelist': runner(state).hostname if job.start is not None else 'None assigned',
        'exit_code': f'{job.exit_code or 0}:{job.signal or 0}',
    }


async def _submit(state: V1State, task: Task, request: JobRequest) -> None:
    try:
        job = await runner(state).submit(request)
    except RemoteCommandError as exc:
        task.set(ERROR, exc.stderr)
        return
    state.job_files[job.id] = request.script_path or ''
    task.set(SUCCESS, submitted(state, job))


def _task(state: V1State, user: str, machine: str) -> Task:
    return state.tasks.create(user, 'compute', machine)


@router.post('/jobs/upload', status_code=201)
async def submit_upload(
    state: State,
    machine: Machine,
    user: CurrentUser,
    file: Annotated[UploadFile | None, File()] = None,
    account: FormText = None,
) -> dict[str, Any]:
    """The script is written to a fresh directory of the user's scratch and submitted from there."""
    if file is None or not file.filename:
        raise V1Error(400, 'Failed to submit job file', 'No batch file part')
    content = (await file.read()).decode(errors='replace')
    if not content:
        raise V1Error(400, 'Failed to submit job file', 'Batch file is empty')
    base = state.settings.scratch / 'firecrest'
    base.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(dir=base)
    script = os.path.join(directory, os.path.basename(file.filename))
    with open(script, 'w') as stream:
        stream.write(content)
    task = _task(state, user, machine)
    state.spawn(
        _submit(state, task, JobRequest(working_directory=directory, script_path=script, account=account))
    )
    return _created(task)


@router.post('/jobs/path', status_code=201)
async def submit_path(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetForm = None,
    account: FormText = None,
) -> dict[str, Any]:
    if invalid_input(target_path) or target_path is None:
        raise V1Error(400, 'Failed to submit job', f"'targetPath' {invalid_input(target_path)}")
    if account is not None and invalid_input(account):
        raise V1Error(400, 'Invalid account', f"'account' {invalid_input(account)}")
    if not os.path.isfile(target_path):
        header = {'X-Invalid-Path': f'{target_path} is an invalid path'}
        raise V1Error(400, 'Failed to submit job', headers=header)
    task = _task(state, user, machine)
    request = JobRequest(
        working_directory=os.path.dirname(target_path), script_path=target_path, account=account
    )
    state.spawn(_submit(state, task, request))
    return _created(task)


def _wanted(jobs: str | None) -> list[str] | None:
    if jobs is None:
        return None
    ids = [job for job in jobs.split(',') if job]
    for job_id in ids:
        if not job_id.isdigit():
            raise V1Error(400, 'Failed to retrieve job information', f'{job_id} is not a valid job ID')
    return ids


@router.get('/jobs')
async def list_jobs(
    state: State, machine: Machine, user: CurrentUser, jobs: str | None = None
) -> dict[str, Any]:
    """``squeue``: the data is ``{"0": record, "1": ...}`` (``{}`` when nothing is queued)."""
    wanted = _wanted(jobs)
    active = [job for job in runner(state).jobs() if not job.finished]
    if wanted is not None:
        unknown = [job_id for job_id in wanted if runner(state).find(job_id) is None]
        if unknown:
            task = _task(state, user, machine)
            task.set(ERROR, 'slurm_load_jobs error: Invalid job id specified')
            return _created(task)
        active = [job for job in active if str(job.id) in wanted]
    task = _task(state, user, machine)
    task.set(SUCCESS, {str(index): squeue_record(state, job) for index, job in enumerate(active)})
    return _created(task)


@router.get('/jobs/{jobid}')
async def get_job(jobid: str, state: State, machine: Machine, user: CurrentUser) -> dict[str, Any]:
    return await list_jobs(state, machine, user, jobid)


def _midnight() -> float:
    today = datetime.date.today()
    return datetime.datetime(today.year, today.month, today.day).timestamp()


@router.get('/acct')
async def acct(
    state: State, machine: Machine, user: CurrentUser, jobs: str | None = None, starttime: str | None = None
) -> dict[str, Any]:
    """``sacct -X``: a list of records (``{}`` when there is none); without ``jobs``, since midnight."""
    wanted = _wanted(jobs)
    since = _midnight() if starttime is None else _parse_start(starttime)
    listed = [
        job
        for job in runner(state).jobs()
        if (wanted is None or str(job.id) in wanted)
        and (wanted is not None or job.end is None or job.end >= since)
    ]
    task = _task(state, user, machine)
    task.set(SUCCESS, [acct_record(state, job) for job in listed] or {})
    return _created(task)


def _parse_start(text: str) -> float:
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return _midnight()


@router.delete('/jobs/{jobid}')
async def cancel(jobid: str, state: State, machine: Machine, user: CurrentUser) -> dict[str, Any]:
    task = _task(state, user, machine)
    try:
        runner(state).cancel(jobid)
    except RemoteCommandError as exc:
        stderr = exc.stderr.strip()
        task.set(ERROR, stderr[stderr.index('error') + 7 :] if 'error' in stderr else stderr)
    else:
        task.set(SUCCESS, '')
    return _created(task)
