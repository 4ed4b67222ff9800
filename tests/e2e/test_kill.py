"""A running CalcJob killed through the engine: the scheduler cancels its FirecREST job."""

from __future__ import annotations

import asyncio
import time
import typing as t

from aiida import orm
from aiida.calculations.arithmetic.add import ArithmeticAddCalculation
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager
from aiida.schedulers.datastructures import JobState
from plumpy import ensure_portal

from tests._harness import JobDialect

RUNNING_TIMEOUT = 30.0
"""Seconds the job gets to reach RUNNING before the test gives up."""


async def _kill_once_running(process: t.Any, node: orm.CalcJobNode) -> None:
    """Kill ``process`` from this task, as a daemon worker does on an RPC: with a greenback portal
    (what AiiDA's blocking bridge needs to run the scheduler's request on the running loop)."""
    await ensure_portal()
    deadline = time.monotonic() + RUNNING_TIMEOUT
    while True:
        job = node.get_last_job_info()
        if job is not None and job.job_state == JobState.RUNNING:
            break
        if time.monotonic() > deadline or process.has_terminated():
            raise AssertionError(f'the job did not start running: {job}')
        await asyncio.sleep(0.2)
    result = process.kill('killed by the test')
    if asyncio.isfuture(result):
        await result


def test_a_running_job_is_killed(bash_code: orm.InstalledCode, job_dialect: JobDialect) -> None:
    runner = get_manager().get_runner()
    options = {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 120, 'prepend_text': 'sleep 60'}
    process = instantiate_process(
        runner,
        ArithmeticAddCalculation,
        code=bash_code,
        x=orm.Int(1),
        y=orm.Int(2),
        metadata={'options': options},
    )
    node = t.cast(orm.CalcJobNode, process.node)

    async def run_and_kill() -> None:
        await asyncio.gather(process.step_until_terminated(), _kill_once_running(process, node))

    runner.loop.run_until_complete(run_and_kill())
    assert node.is_killed
    job_id = node.get_job_id()
    assert job_id is not None
    computer = node.computer
    assert computer is not None
    scheduler = computer.get_scheduler()
    with computer.get_transport() as transport:
        scheduler.set_transport(transport)
        job = scheduler.get_jobs(jobs=[job_id], as_dict=True)[job_id]
    assert (job.job_state, job.job_substate.split()[0]) == (JobState.DONE, job_dialect.cancelled)
