"""20 CalcJobs through the daemon: aiida-core's ZeroMQ broker (no RabbitMQ), two workers, one server.

Both workers use the same computer, credentials and temp directory; every job must finish with the
right sum, and (where the demo server counts requests) the server must see polls as job-list requests
(one per poll cycle of a worker), never one request per job.
"""

from __future__ import annotations

import os
import sys
import time
import typing as t
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import pytest
from aiida import orm
from aiida.calculations.arithmetic.add import ArithmeticAddCalculation
from aiida.engine import submit

from tests._harness import JobDialect, store_firecrest_computer

NUM_JOBS = 20
NUM_WORKERS = 2
POLL_INTERVAL = 1.0
TIMEOUT = 240.0
"""Seconds all the jobs get to finish."""
DAEMON_TIMEOUT = 60
"""Seconds the daemon gets to start and to stop."""
SUBMIT = 'POST /compute/{system_name}/jobs'
JOB_LIST = 'GET /compute/{system_name}/jobs'
ONE_JOB = 'GET /compute/{system_name}/jobs/{job_id}'
V1_SUBMIT = 'POST /compute/jobs/path'
V1_JOB_LIST = 'GET /compute/acct'
V1_QUEUE = 'GET /compute/jobs'


@pytest.fixture
def zeromq_profile(
    aiida_config: t.Any, aiida_profile: t.Any, aiida_profile_factory: t.Any
) -> Iterator[t.Any]:
    """A second, temporary profile with aiida-core's built-in ZeroMQ broker; loaded while in use."""
    with aiida_profile_factory(aiida_config, broker_backend='core.zeromq') as profile:
        yield profile


@pytest.fixture
def daemon(zeromq_profile: t.Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[t.Any]:
    """The profile's daemon with two workers (it starts the ZeroMQ broker service itself).

    ``verdi`` (which the daemon runs) is taken from this interpreter's environment, activated or not.
    """
    from aiida.engine.daemon import client as daemon_client

    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}')
    if daemon_client.VERDI_BIN is None:  # looked up on PATH when AiiDA was imported
        monkeypatch.setattr(daemon_client, 'VERDI_BIN', str(bin_dir / 'verdi'))

    client = daemon_client.get_daemon_client(zeromq_profile.name)
    client.start_daemon(number_workers=NUM_WORKERS, timeout=DAEMON_TIMEOUT)
    try:
        yield client
    finally:
        client.stop_daemon(wait=True, timeout=DAEMON_TIMEOUT)


@pytest.fixture
def daemon_code(
    daemon: t.Any,
    firecrest_server: t.Any,
    transport_params: dict[str, t.Any],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> orm.InstalledCode:
    """``/bin/bash`` on a ``firecrest`` computer of the ZeroMQ profile, working in ``remote_dir``."""
    label = f'daemon-{remote_dir.name}'
    computer = store_firecrest_computer(
        label, 'localhost', str(remote_dir), transport_params, POLL_INTERVAL, '', job_dialect.entry_point
    )
    return orm.InstalledCode(computer=computer, filepath_executable='/bin/bash', label='bash').store()


def _await_all(nodes: Sequence[orm.ProcessNode], daemon: t.Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not all(node.is_terminated for node in nodes):
        if time.monotonic() > deadline:
            log_tail = Path(daemon.daemon_log_file).read_text(errors='replace')[-3000:]
            pending = [node.pk for node in nodes if not node.is_terminated]
            raise AssertionError(
                f'CalcJobs {pending} not finished after {TIMEOUT} s; daemon log:\n{log_tail}'
            )
        time.sleep(1.0)


@pytest.mark.slow
def test_twenty_calcjobs_through_two_daemon_workers(
    daemon: t.Any, daemon_code: orm.InstalledCode, firecrest_server: t.Any
) -> None:
    options = {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 120}
    if firecrest_server.is_demo:
        firecrest_server.reset_counters()
    started = time.monotonic()
    nodes = [
        submit(
            ArithmeticAddCalculation,
            code=daemon_code,
            x=orm.Int(i),
            y=orm.Int(100),
            metadata={'options': options},
        )
        for i in range(NUM_JOBS)
    ]
    _await_all(nodes, daemon)
    elapsed = time.monotonic() - started

    failed = {node.pk: (node.exit_status, node.exit_message) for node in nodes if not node.is_finished_ok}
    assert not failed, failed
    assert [node.outputs.sum.value for node in nodes] == [i + 100 for i in range(NUM_JOBS)]
    if not firecrest_server.is_demo:
        return  # request counters exist only on the demo server
    counters = firecrest_server.counters()
    max_poll_cycles = NUM_WORKERS * (elapsed / POLL_INTERVAL + 1)
    if str(firecrest_server.config.get('api_version')) == '1':
        # the list and one job's record are both /compute/acct; /compute/jobs asks pending jobs' reasons
        assert counters[V1_SUBMIT] == NUM_JOBS, counters
        assert 1 <= counters[V1_JOB_LIST] <= max_poll_cycles, f'{max_poll_cycles:.0f} at most: {counters}'
        assert counters.get(V1_QUEUE, 0) <= counters[V1_JOB_LIST], counters
        return
    assert counters[SUBMIT] == NUM_JOBS, counters
    assert ONE_JOB not in counters, (
        f'the detailed job info is the record of the poll (same worker) that found the job done: {counters}'
    )
    assert 1 <= counters[JOB_LIST] <= max_poll_cycles, (
        f'{max_poll_cycles:.0f} poll cycles at most: {counters}'
    )
