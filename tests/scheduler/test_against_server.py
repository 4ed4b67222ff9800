"""The scheduler against the session's FirecREST server (the demo server unless told otherwise).

The scheduler runs on a real client and backend of the server's API version (v2's
:class:`~aiida_firecrest.client.FirecrestClient` or v1's) through a minimal
bridge (its own event loop), so these tests need neither the transport nor an AiiDA profile. The
scheduler plugin, the scripts' directives and the expected substates are those of the server's
scheduler (``job_dialect``: Slurm, or PBS with ``--firecrest-scheduler=pbs``).
"""

from __future__ import annotations

import asyncio
import io
import time
import typing as t
from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest
from aiida.engine import CalcJob
from aiida.schedulers import SchedulerError
from aiida.schedulers.datastructures import JobInfo, JobState

from aiida_firecrest.backends import open_backend
from aiida_firecrest.scheduler import FirecrestScheduler
from aiida_firecrest.settings import TransportConfig
from tests._harness import DIALECTS, JobDialect

JOB_LIST = 'GET /compute/{system_name}/jobs'
ONE_JOB = 'GET /compute/{system_name}/jobs/{job_id}'
SUBMIT = 'POST /compute/{system_name}/jobs'
V1_ACCT = 'GET /compute/acct'
V1_QUEUE = 'GET /compute/jobs'
V1_TASK = 'GET /tasks/{task_id}'
TIMEOUT_WAIT = 200
"""Seconds to wait for a job with a 1 s limit to time out: Slurm makes that a minute (~85 s recorded),
PBS's MoM checks the walltime every 10 to 120 s."""


class LoopBridge:
    """AiiDA's blocking bridge, reduced to what the scheduler uses: a client and one event loop."""

    def __init__(self, params: dict[str, t.Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.client, self.remote = self.loop.run_until_complete(
            open_backend(TransportConfig.from_auth_params(params))
        )

    def run_command_blocking(self, func: t.Callable[..., t.Awaitable[t.Any]], *args: t.Any) -> t.Any:
        return self.loop.run_until_complete(func(*args))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture
def scheduler(transport_params: dict[str, t.Any], job_dialect: JobDialect) -> Iterator[FirecrestScheduler]:
    """A scheduler that asks the server from the first poll on, even right after a submission."""
    bridge = LoopBridge(transport_params)
    scheduler = job_dialect.scheduler_class()
    scheduler.just_submitted_seconds = 0  # type: ignore[misc]
    scheduler.set_transport(bridge)  # type: ignore[arg-type]
    yield scheduler
    bridge.close()


@pytest.fixture
def put_script(
    firecrest_sync: t.Any, firecrest_server: t.Any, remote_dir: PurePosixPath
) -> t.Callable[..., str]:
    """Upload a job script into ``remote_dir``; returns its file name."""

    def put(name: str, body: str) -> str:
        script = f'#!/bin/bash\n{body}\n'.encode()
        system = firecrest_server.config['compute_resource']
        firecrest_sync.upload(system, io.BytesIO(script), str(remote_dir), name, file_size=len(script))
        return name

    return put


def _wait_for(
    scheduler: FirecrestScheduler, job_id: str, states: set[JobState], timeout: float = 30
) -> JobInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = scheduler.get_jobs(jobs=[job_id], as_dict=True).get(job_id)
        if info is not None and info.job_state in states:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f'job {job_id} not in {states} after {timeout} s: {info}')
        time.sleep(0.3)


def test_a_job_runs_to_completion(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    """Its title survives Slurm's placeholder record, which a quick job shows when it has just ended."""
    job_id = scheduler.submit_job(str(remote_dir), put_script('ok.sh', f'{job_dialect.job_name}\necho hi'))
    assert isinstance(job_id, str)
    info = _wait_for(scheduler, job_id, {JobState.DONE})
    assert (info.job_substate, info.exit_status, info.title) == (job_dialect.completed, 0, 'ok-job')
    assert scheduler.parse_output(scheduler.get_detailed_job_info(job_id)) is None


def test_a_poll_of_many_jobs_finds_them_all_in_one_request(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    firecrest_server: t.Any,
) -> None:
    """The jobs are found on any server; the single request is counted where the demo counts.

    On v1 it is ``sacct``'s list and its task's poll, and ``squeue``'s (with its poll) for the pending
    reasons while some of the jobs pend."""
    script = put_script('quick.sh', 'true')
    job_ids = [scheduler.submit_job(str(remote_dir), script) for _ in range(5)]
    if firecrest_server.is_demo:
        firecrest_server.reset_counters()
    jobs = scheduler.get_jobs(jobs=[str(job_id) for job_id in job_ids], as_dict=True)
    assert sorted(jobs) == sorted(job_ids)
    if firecrest_server.is_demo and str(firecrest_server.config.get('api_version')) == '1':
        counts = firecrest_server.counters()
        lists = counts.get(V1_ACCT, 0) + counts.get(V1_QUEUE, 0)
        assert (counts.get(V1_ACCT), counts.get(V1_QUEUE, 0) <= 1, counts.get(V1_TASK)) == (1, True, lists)
        assert set(counts) <= {V1_ACCT, V1_QUEUE, V1_TASK}
    elif firecrest_server.is_demo:
        assert firecrest_server.counters() == {JOB_LIST: 1}


@pytest.mark.demo_only
def test_a_poll_right_after_submission_sends_no_request(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    firecrest_server: t.Any,
) -> None:
    scheduler.just_submitted_seconds = 60  # type: ignore[misc]
    job_id = str(scheduler.submit_job(str(remote_dir), put_script('fresh.sh', 'true')))
    firecrest_server.reset_counters()
    assert scheduler.get_jobs(jobs=[job_id], as_dict=True)[job_id].job_state == JobState.QUEUED
    assert firecrest_server.counters() == {}


def test_a_held_job_is_queued_held_and_is_killed(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    job_id = str(scheduler.submit_job(str(remote_dir), put_script('held.sh', f'{job_dialect.hold}\ntrue')))
    assert (
        _wait_for(scheduler, job_id, {JobState.QUEUED_HELD}).get('annotation') == job_dialect.held_annotation
    )
    assert scheduler.kill_job(job_id) is True
    assert _wait_for(scheduler, job_id, {JobState.DONE}).job_substate.startswith(job_dialect.cancelled)


def test_killing_a_finished_job_is_refused(
    scheduler: FirecrestScheduler, put_script: t.Callable[..., str], remote_dir: PurePosixPath
) -> None:
    job_id = str(scheduler.submit_job(str(remote_dir), put_script('done.sh', 'true')))
    _wait_for(scheduler, job_id, {JobState.DONE})
    assert scheduler.kill_job(job_id) is False


def test_a_failing_job_reports_its_exit_code(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    job_id = str(scheduler.submit_job(str(remote_dir), put_script('fail.sh', 'exit 3')))
    info = _wait_for(scheduler, job_id, {JobState.DONE})
    assert (info.job_substate, info.exit_status) == (job_dialect.failed, 3)


@pytest.mark.slow
def test_a_job_over_its_time_limit_is_out_of_walltime(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    """The demo kills the job after 1 s; Slurm rounds the limit up to a minute (TIMEOUT after ~85 s)."""
    script = put_script('long.sh', f'{job_dialect.one_second_limit}\nsleep 240')
    job_id = str(scheduler.submit_job(str(remote_dir), script))
    info = _wait_for(scheduler, job_id, {JobState.DONE}, timeout=TIMEOUT_WAIT)
    assert info.job_substate == job_dialect.timed_out
    exit_code = scheduler.parse_output(scheduler.get_detailed_job_info(job_id))
    assert exit_code == CalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME


def test_a_rejected_submission_carries_the_servers_message(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    script = put_script('bad.sh', f'{job_dialect.unknown_queue}\ntrue')
    with pytest.raises(SchedulerError, match=job_dialect.unknown_queue_error):
        scheduler.submit_job(str(remote_dir), script)


def test_the_plugin_of_another_scheduler_fails_verdi_computer_test_and_then_submission(
    transport_params: dict[str, t.Any],
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> None:
    """Its directives would be ignored: the job would run with the scheduler's defaults.

    ``verdi computer test`` lists all jobs, which asks for the system's description; a submission in a
    process that has it is refused before anything is sent.
    """
    other = next(dialect for dialect in DIALECTS.values() if dialect != job_dialect).scheduler_class()
    bridge = LoopBridge(transport_params)
    other.set_transport(bridge)  # type: ignore[arg-type]
    wrong = f'not {other.scheduler_type}: .*`{job_dialect.entry_point}`'
    try:
        with pytest.raises(SchedulerError, match=wrong):
            other.get_jobs()
        with pytest.raises(SchedulerError, match=wrong):
            other.submit_job(str(remote_dir), put_script('wrong.sh', 'true'))
    finally:
        bridge.close()


def test_an_unknown_job_is_left_out(scheduler: FirecrestScheduler) -> None:
    assert scheduler.get_jobs(jobs=['99999999']) == []


@pytest.mark.demo_only
def test_a_job_the_server_does_not_know_yet_stays_queued(
    scheduler: FirecrestScheduler,
    put_script: t.Callable[..., str],
    remote_dir: PurePosixPath,
    firecrest_server: t.Any,
) -> None:
    script = put_script('lag.sh', 'true')
    with firecrest_server.switches(job_not_found_for=30.0):
        job_id = str(scheduler.submit_job(str(remote_dir), script))
        assert scheduler.get_jobs(jobs=[job_id], as_dict=True)[job_id].job_state == JobState.QUEUED
