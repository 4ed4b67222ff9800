"""Jobs older than the job list's time window (FirecREST 2.5.7+: finished jobs of the last 24 h by default).

A CalcJob that finished while the daemon was stopped for two days is missing from the job list. The
scheduler must still find it, with one more request per such job, and must never take it as finished
without its record. These tests run the scheduler of the demo's system (Slurm or PBS) against the
in-process demo, with the 24 h default window of 2.5.7 whatever ``--firecrest-server-version`` (one
test: none, as before 2.5.7); its ``job_age_offset`` makes every finished job that much older at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
import typing as t
from collections.abc import Iterator

import pytest
from aiida.schedulers.datastructures import JobState

from aiida_firecrest.client import FirecrestClient
from aiida_firecrest.demo.settings import FaultRule
from aiida_firecrest.job_notes import clear_job_notes
from aiida_firecrest.remote import FirecrestRemote
from aiida_firecrest.scheduler import FirecrestScheduler
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.settings import TransportConfig

from .._harness import DIALECTS, InProcessDemo, JobDialect

T = t.TypeVar('T')

JOB_LIST = 'GET /compute/{system_name}/jobs'
ONE_JOB = 'GET /compute/{system_name}/jobs/{job_id}'
TWO_DAYS = 2 * 86400.0


class ThreadBridge:
    """AiiDA's blocking bridge on an event loop of its own thread, which also runs the demo's jobs."""

    def __init__(self, demo: InProcessDemo) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        clear_server_facts()  # as in a new process: no token of an earlier test's demo server
        config = TransportConfig.from_auth_params({**demo.config, 'max_retries': 0})
        self.client = self.run_command_blocking(FirecrestClient.connect, config, demo)
        self.remote = FirecrestRemote(self.client)

    def run_command_blocking(self, func: t.Callable[..., t.Coroutine[t.Any, t.Any, T]], *args: t.Any) -> T:
        return asyncio.run_coroutine_threadsafe(func(*args), self.loop).result(timeout=60)

    def close(self) -> None:
        self.run_command_blocking(self.client.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def dialect(asgi_transport: InProcessDemo) -> JobDialect:
    """The job dialect of the in-process demo's system; its job list has the 24 h window of 2.5.7."""
    asgi_transport.settings.jobs_default_time_window = '24h'
    return DIALECTS[asgi_transport.settings.scheduler]


@pytest.fixture
def windowed(dialect: JobDialect) -> None:
    """Only for Slurm systems: on PBS the server ignores the window (qstat -x lists PBS's job history)."""
    if dialect.scheduler_class.scheduler_type != 'slurm':
        pytest.skip('a PBS job list has no time window (see the PBS test below)')


@pytest.fixture
def scheduler(asgi_transport: InProcessDemo, dialect: JobDialect) -> Iterator[FirecrestScheduler]:
    """A scheduler in a new process, as it were (nothing learnt about jobs), on the in-process demo."""
    clear_job_notes()
    bridge = ThreadBridge(asgi_transport)
    scheduler = dialect.scheduler_class()
    scheduler.just_submitted_seconds = 0  # type: ignore[misc]
    scheduler.set_transport(bridge)  # type: ignore[arg-type]
    yield scheduler
    bridge.close()
    clear_job_notes()


def _submit(scheduler: FirecrestScheduler, demo: InProcessDemo, body: str) -> str:
    directory = demo.settings.scratch
    (directory / 'job.sh').write_text(f'#!/bin/bash\n{body}\n')
    return str(scheduler.submit_job(str(directory), 'job.sh'))


def _finished(
    scheduler: FirecrestScheduler, demo: InProcessDemo, count: int, body: str = 'true'
) -> list[str]:
    """``count`` jobs that ran ``body`` and ended."""
    job_ids = [_submit(scheduler, demo, body) for _ in range(count)]
    deadline = time.monotonic() + 30
    while any(info.job_state != JobState.DONE for info in scheduler.get_jobs(jobs=job_ids)):
        assert time.monotonic() < deadline, 'the jobs did not end'
        time.sleep(0.1)
    return job_ids


def _two_days_pass(demo: InProcessDemo) -> None:
    """The server's jobs are two days older, and the daemon has restarted since their submission."""
    demo.settings.job_age_offset = TWO_DAYS
    clear_job_notes()


def _poll(scheduler: FirecrestScheduler, demo: InProcessDemo, job_ids: list[str]) -> dict[str, t.Any]:
    demo.reset_counters()
    return scheduler.get_jobs(jobs=job_ids, as_dict=True)


@pytest.mark.usefixtures('windowed')
def test_a_job_that_ended_before_the_window_is_found_with_one_more_request(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, dialect: JobDialect
) -> None:
    (job_id,) = _finished(scheduler, asgi_transport, 1, 'exit 3')
    _two_days_pass(asgi_transport)
    info = _poll(scheduler, asgi_transport, [job_id])[job_id]
    assert (info.job_state, info.job_substate, info.exit_status) == (JobState.DONE, dialect.failed, 3)
    assert asgi_transport.counters() == {JOB_LIST: 1, ONE_JOB: 1}


@pytest.mark.usefixtures('windowed')
def test_each_job_missing_from_the_list_costs_one_request_and_a_listed_one_none(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, dialect: JobDialect
) -> None:
    old = _finished(scheduler, asgi_transport, 3)
    _two_days_pass(asgi_transport)
    held = _submit(scheduler, asgi_transport, f'{dialect.hold}\ntrue')
    jobs = _poll(scheduler, asgi_transport, [*old, held])
    assert {job_id: info.job_state for job_id, info in jobs.items()} == {
        **dict.fromkeys(old, JobState.DONE),
        held: JobState.QUEUED_HELD,
    }
    assert asgi_transport.counters() == {JOB_LIST: 1, ONE_JOB: 3}


@pytest.mark.usefixtures('windowed')
def test_a_job_missing_from_the_list_whose_lookup_fails_is_not_taken_as_finished(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo
) -> None:
    """The poll fails (the engine retries it later) rather than leave the job out, which means 'done'."""
    (job_id,) = _finished(scheduler, asgi_transport, 1)
    _two_days_pass(asgi_transport)
    asgi_transport.settings.faults = [FaultRule(kind='500', endpoint=f'/jobs/{job_id}')]
    with pytest.raises(OSError, match='HTTP 500'):
        scheduler.get_jobs(jobs=[job_id])


def test_a_server_before_2_5_7_lists_the_jobs_of_the_last_7_days(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo
) -> None:
    asgi_transport.settings.jobs_default_time_window = None
    (job_id,) = _finished(scheduler, asgi_transport, 1)
    _two_days_pass(asgi_transport)
    assert _poll(scheduler, asgi_transport, [job_id])[job_id].job_state == JobState.DONE
    assert asgi_transport.counters() == {JOB_LIST: 1}


def test_a_pbs_job_list_has_the_old_jobs_whatever_the_window(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, dialect: JobDialect
) -> None:
    if dialect.scheduler_class.scheduler_type != 'pbs':
        pytest.skip('for PBS systems (--firecrest-scheduler=pbs); Slurm ones apply the window above')
    (job_id,) = _finished(scheduler, asgi_transport, 1)
    _two_days_pass(asgi_transport)
    assert _poll(scheduler, asgi_transport, [job_id])[job_id].job_state == JobState.DONE
    assert asgi_transport.counters() == {JOB_LIST: 1}
