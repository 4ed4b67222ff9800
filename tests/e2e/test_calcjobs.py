"""Real AiiDA CalcJobs run by the engine (``aiida.engine.run``) through the ``firecrest`` plugins."""

from __future__ import annotations

import asyncio
import typing as t
from pathlib import PurePosixPath

import pytest
from aiida import orm
from aiida.calculations.arithmetic.add import ArithmeticAddCalculation
from aiida.engine import CalcJob, run_get_node
from aiida.manage import get_manager
from aiida.plugins import CalculationFactory

from tests._harness import JobDialect

from .calcjobs import BIG_FILE_LINES, FileTreeCalculation
from .conftest import Remote

SUBMIT = 'POST /compute/{system_name}/jobs'
JOB_LIST = 'GET /compute/{system_name}/jobs'
ONE_JOB = 'GET /compute/{system_name}/jobs/{job_id}'
V1_SUBMIT = 'POST /compute/jobs/path'
V1_JOB_LIST = 'GET /compute/acct'
OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 60}


def _add(code: orm.InstalledCode, x: int = 1, y: int = 2, **options: t.Any) -> orm.CalcJobNode:
    metadata = {'options': {**OPTIONS, **options}}
    _, node = run_get_node(ArithmeticAddCalculation, code=code, x=orm.Int(x), y=orm.Int(y), metadata=metadata)
    return t.cast(orm.CalcJobNode, node)


def test_arithmetic_add_gives_the_sum(bash_code: orm.InstalledCode) -> None:
    node = _add(bash_code, 17, 25)
    assert node.is_finished_ok, node.exit_message
    assert node.outputs.sum.value == 42


def test_a_calcjob_runs_when_the_global_runner_has_another_loop(bash_code: orm.InstalledCode) -> None:
    """``aiida.engine.run`` runs the process in a local runner; the scheduler must use that runner's loop."""
    global_loop = get_manager().get_runner().loop
    local_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(local_loop)
    try:
        node = _add(bash_code)
    finally:
        asyncio.set_event_loop(global_loop)
        local_loop.close()
    assert node.is_finished_ok, node.exit_message


@pytest.mark.demo_only
def test_arithmetic_add_submits_once_and_polls_with_the_job_list(
    bash_code: orm.InstalledCode, firecrest_server: t.Any
) -> None:
    """On v1 the job list and one job's record are both ``/compute/acct``: only the list is checked."""
    firecrest_server.reset_counters()
    assert _add(bash_code).is_finished_ok
    counters = firecrest_server.counters()
    if str(firecrest_server.config.get('api_version')) == '1':
        assert counters[V1_SUBMIT] == 1
        assert counters[V1_JOB_LIST] >= 1
        return
    assert counters[SUBMIT] == 1
    assert counters[JOB_LIST] >= 1
    assert ONE_JOB not in counters, 'the detailed job info is the record of the poll that found the job done'


def test_gpus_and_exclusive_nodes_reach_the_submit_script(
    bash_code: orm.InstalledCode, job_dialect: JobDialect
) -> None:
    resources = {
        'num_machines': 1,
        'num_mpiprocs_per_machine': 1,
        'num_gpus_per_machine': 2,
        'exclusive': True,
    }
    node = _add(bash_code, resources=resources)
    assert node.is_finished_ok, node.exit_message
    script = node.base.repository.get_object_content('_aiidasubmit.sh', mode='r').splitlines()
    assert job_dialect.gpus_and_exclusive <= set(script)


@pytest.fixture
def remote_file(
    firecrest_computer: orm.Computer, remote_dir: PurePosixPath, remote: Remote
) -> orm.RemoteData:
    path = remote_dir / 'source.txt'
    remote.write(path, 'remote\n')
    return orm.RemoteData(computer=firecrest_computer, remote_path=str(path)).store()


@pytest.mark.slow
def test_file_tree_calcjob_moves_every_kind_of_file(
    firecrest_computer: orm.Computer,
    transport_params: dict[str, t.Any],
    bash_code: orm.InstalledCode,
    remote_file: orm.RemoteData,
) -> None:
    """Nested sandbox files, a local file, a remote copy and symlink in; globs and a staged file out."""
    firecrest_computer.configure(safe_interval=0, **{**transport_params, 'small_file_size_mb': 0.05})
    local_file = orm.SinglefileData.from_string('delta\n', filename='delta.txt')
    _, node = run_get_node(
        FileTreeCalculation, code=bash_code, local_file=local_file, remote_file=remote_file
    )
    assert node.is_finished_ok, node.exit_message
    retrieved = node.outputs.retrieved
    names = set(retrieved.base.repository.list_object_names())
    assert {'combined.txt', 'first.dat', 'second.dat', 'big.txt', 'kept'} <= names
    assert retrieved.get_object_content('combined.txt') == 'alpha\ngamma\ndelta\nremote\nremote\n'
    assert retrieved.get_object_content('kept/note.txt') == 'kept\n'
    big = retrieved.get_object_content('big.txt').splitlines()
    assert (len(big), big[-1]) == (BIG_FILE_LINES, f'line {BIG_FILE_LINES}')


@pytest.mark.slow
@pytest.mark.parametrize(
    ('mode', 'stash_class'), [('copy', orm.RemoteStashFolderData), ('tar.gz', orm.RemoteStashCompressedData)]
)
def test_stash_and_unstash(
    mode: str,
    stash_class: type,
    firecrest_computer: orm.Computer,
    bash_code: orm.InstalledCode,
    remote_dir: PurePosixPath,
    remote: Remote,
) -> None:
    stash = {
        'source_list': ['aiida.in', 'aiida.out'],
        'target_base': str(remote_dir / 'stash'),
        'stash_mode': mode,
        **({} if mode == 'copy' else {'dereference': False}),
    }
    node = _add(bash_code, 4, 5, stash=stash)
    assert node.is_finished_ok, node.exit_message
    stashed = node.outputs.remote_stash
    assert isinstance(stashed, stash_class)

    unstash = {'unstash_target_mode': 'NewRemoteData', 'source_list': ['aiida.in', 'aiida.out']}
    unstash_calculation = CalculationFactory('core.unstash')
    assert isinstance(unstash_calculation, type) and issubclass(unstash_calculation, CalcJob)
    _, unstashed = run_get_node(
        unstash_calculation,
        source_node=stashed,
        metadata={'computer': firecrest_computer, 'options': {'unstash': unstash}},
    )
    assert unstashed.is_finished_ok, unstashed.exit_message
    workdir = unstashed.get_remote_workdir()
    assert {'aiida.in', 'aiida.out'} <= set(remote.names(workdir))
    assert remote.read(f'{workdir}/aiida.out').strip() == '9'


def test_a_job_exiting_non_zero_fails_and_keeps_its_exit_code(
    bash_code: orm.InstalledCode, job_dialect: JobDialect
) -> None:
    node = _add(bash_code, prepend_text='exit 3')
    assert node.exit_status == ArithmeticAddCalculation.exit_codes.ERROR_READING_OUTPUT_FILE.status
    job = node.get_last_job_info()
    assert job is not None
    assert (job.job_substate, job.exit_status) == (job_dialect.failed, 3)


@pytest.mark.slow
def test_a_job_over_its_wall_time_is_out_of_walltime(
    bash_code: orm.InstalledCode, job_dialect: JobDialect
) -> None:
    """The demo kills the job after 1 s; Slurm rounds the limit up to a minute (TIMEOUT after ~85 s)."""
    node = _add(bash_code, append_text='sleep 240', max_wallclock_seconds=1)
    assert node.exit_status == CalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status
    job = node.get_last_job_info()
    assert job is not None
    assert job.job_substate == job_dialect.timed_out
