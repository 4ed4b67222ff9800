"""A submission whose answer is lost makes no second job: the engine's next attempt adopts the first one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiida_firecrest.demo.settings import FaultRule
from aiida_firecrest.job_notes import clear_job_notes
from aiida_firecrest.scheduler import FirecrestScheduler

from .._harness import DIALECTS, InProcessDemo
from .test_time_window import ThreadBridge

SUBMIT = 'POST /compute/{system_name}/jobs'
JOB_LIST = 'GET /compute/{system_name}/jobs'


@pytest.fixture
def scheduler(asgi_transport: InProcessDemo) -> Iterator[FirecrestScheduler]:
    """A scheduler of a new process, as it were, on the in-process demo."""
    clear_job_notes()
    bridge = ThreadBridge(asgi_transport)
    scheduler = DIALECTS[asgi_transport.settings.scheduler].scheduler_class()
    scheduler.set_transport(bridge)  # type: ignore[arg-type]
    yield scheduler
    bridge.close()
    clear_job_notes()


def _jobs_in(demo: InProcessDemo, directory: str) -> list[str]:
    """The ids of the jobs the server made from ``directory``."""
    return [str(job.id) for job in demo.state.job_runner().jobs() if job.spec.working_directory == directory]


@pytest.fixture
def workdir(asgi_transport: InProcessDemo) -> str:
    directory = asgi_transport.settings.scratch / 'calc'
    directory.mkdir()
    (directory / 'job.sh').write_text('#!/bin/bash\nsleep 30\n')
    return str(directory)


def test_the_next_submission_adopts_the_job_whose_answer_was_lost(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, workdir: str
) -> None:
    asgi_transport.settings.faults = [FaultRule(kind='drop-after', endpoint='/compute/', count=1)]
    with pytest.raises(Exception, match='broke off'):
        scheduler.submit_job(workdir, 'job.sh')
    asgi_transport.reset_counters()

    job_id = scheduler.submit_job(workdir, 'job.sh')

    assert asgi_transport.counters() == {JOB_LIST: 1}  # the job list, and no second submission
    assert _jobs_in(asgi_transport, workdir) == [job_id]
    assert scheduler.kill_job(str(job_id))


def test_a_submission_lost_before_reaching_the_server_is_sent_again(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, workdir: str
) -> None:
    asgi_transport.settings.faults = [FaultRule(kind='drop', endpoint='/compute/', count=1)]
    with pytest.raises(Exception, match='broke off'):
        scheduler.submit_job(workdir, 'job.sh')
    asgi_transport.reset_counters()

    job_id = scheduler.submit_job(workdir, 'job.sh')

    assert asgi_transport.counters() == {JOB_LIST: 1, SUBMIT: 1}
    assert _jobs_in(asgi_transport, workdir) == [job_id]
    assert scheduler.kill_job(str(job_id))


def test_a_submission_that_was_answered_looks_at_no_job_list(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, workdir: str
) -> None:
    asgi_transport.reset_counters()
    job_id = scheduler.submit_job(workdir, 'job.sh')
    assert asgi_transport.counters() == {SUBMIT: 1}
    assert scheduler.kill_job(str(job_id))
