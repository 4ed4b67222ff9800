"""A submission whose answer is lost makes no second job: the engine's next attempt adopts the first one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiida_firecrest.demo.settings import FaultRule
from aiida_firecrest.job_notes import MARK_LIFETIME, LostSubmissions, clear_job_notes
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


@pytest.mark.parametrize('another_process', [False, True], ids=['same-process', 'another-process'])
def test_the_next_submission_adopts_the_job_whose_answer_was_lost(
    scheduler: FirecrestScheduler, asgi_transport: InProcessDemo, workdir: str, another_process: bool
) -> None:
    """Also when the next attempt comes from a daemon worker restarted in between, or another worker: it
    finds the mark on disk."""
    asgi_transport.settings.faults = [FaultRule(kind='drop-after', endpoint='/compute/', count=1)]
    with pytest.raises(Exception, match='broke off'):
        scheduler.submit_job(workdir, 'job.sh')
    if another_process:
        clear_job_notes()  # what this process knew is gone, as in a new one
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


def test_a_mark_older_than_its_lifetime_is_not_taken(tmp_path: Path) -> None:
    marks = LostSubmissions(marks=lambda: tmp_path)
    key = ('https://firecrest.example.org', 'daint', '/scratch/u/calc')
    marks.add(key)
    marks.clear()
    (mark,) = tmp_path.iterdir()
    old = time.time() - MARK_LIFETIME - 60
    os.utime(mark, (old, old))

    assert marks.take(key) is False
    assert list(tmp_path.iterdir()) == []  # removed all the same
