"""The ``firecrest.pbs`` scheduler: core.pbspro's submit script, and FirecREST's PBS job records read.

The records are those a FirecREST v2 server renders from ``qstat -f -F json -x`` (``pbs_job_records.json``);
the calls run on the scripted fake API of ``test_scheduler_calls``.
"""

from __future__ import annotations

import datetime
import json
import typing as t
from pathlib import Path

import pytest
from aiida.engine import CalcJob
from aiida.schedulers import SchedulerError
from aiida.schedulers.datastructures import JobState
from aiida.schedulers.plugins.pbspro import PbsproScheduler

from aiida_firecrest.pbs import (
    FirecrestPbsJobResource,
    FirecrestPbsScheduler,
    job_info_from_pbs_record,
)

from .test_header import RESOURCES, TEMPLATES, _template
from .test_scheduler_calls import FakeApi, FakeTransport, _error

HERE = Path(__file__).parent
RECORDS: dict[str, dict[str, t.Any]] = {
    name: record
    for name, record in json.loads((HERE / 'pbs_job_records.json').read_text()).items()
    if not name.startswith('_')
}
UNKNOWN_JOB = 'Unexpected PBS qstat response. exit_status:153 std_err:qstat: Unknown Job Id 99.pbs\n'
FINISHED_JOB = 'Unexpected PBS qdel response. exit_status:35 std_err:qdel: Job has finished 8.pbs\n'


def _scheduler(api: FakeApi, scheduler_type: str = 'pbs') -> FirecrestPbsScheduler:
    scheduler = FirecrestPbsScheduler()
    scheduler.set_transport(FakeTransport(api, scheduler_type))  # type: ignore[arg-type]
    return scheduler


# --- submit script ---


@pytest.mark.parametrize('name', TEMPLATES)
def test_script_is_core_pbspros_for_the_same_inputs(name: str) -> None:
    fields = TEMPLATES[name]
    expected = PbsproScheduler().get_submit_script(_template(PbsproScheduler, fields))
    assert FirecrestPbsScheduler().get_submit_script(_template(FirecrestPbsScheduler, fields)) == expected


def test_gpus_are_in_the_select_statement() -> None:
    header = FirecrestPbsScheduler()._get_submit_script_header(
        _template(FirecrestPbsScheduler, {}, num_gpus_per_machine=4)
    )
    assert '#PBS -l select=2:mpiprocs=4:ncpus=8:ngpus=4' in header.splitlines()


def test_exclusive_nodes_and_custom_commands_come_before_the_first_command() -> None:
    """qsub reads no directive after core.pbspro's ``cd "$PBS_O_WORKDIR"``."""
    fields = {'custom_scheduler_commands': '#PBS -l software=x'}
    header = FirecrestPbsScheduler()._get_submit_script_header(
        _template(FirecrestPbsScheduler, fields, exclusive=True)
    )
    assert header.splitlines()[-3:] == ['#PBS -l place=excl', '#PBS -l software=x', 'cd "$PBS_O_WORKDIR"']


def test_core_pbspro_resources_are_validated_as_core_pbspro_does() -> None:
    with pytest.raises(ValueError, match='num_cores_per_machine'):
        FirecrestPbsJobResource(
            num_machines=1, num_mpiprocs_per_machine=2, num_cores_per_machine=3, num_cores_per_mpiproc=2
        )


@pytest.mark.parametrize('resources', [{'num_gpus_per_machine': 0}, {'exclusive': 'yes'}])
def test_invalid_gpus_or_exclusive_are_refused(resources: dict[str, t.Any]) -> None:
    with pytest.raises(ValueError):
        FirecrestPbsScheduler.validate_resources(**RESOURCES, **resources)


# --- records ---


@pytest.mark.parametrize(
    ('name', 'state'),
    [
        ('queued', JobState.QUEUED),
        ('held', JobState.QUEUED_HELD),
        ('waiting', JobState.QUEUED),
        ('running', JobState.RUNNING),
        ('exiting', JobState.RUNNING),
        ('suspended', JobState.SUSPENDED),
        ('moved', JobState.UNDETERMINED),
        ('finished', JobState.DONE),
        ('over_walltime', JobState.DONE),
        ('deleted_while_queued', JobState.DONE),
    ],
)
def test_pbs_states_map_as_core_pbspro_maps_them(name: str, state: JobState) -> None:
    assert job_info_from_pbs_record(RECORDS[name]).job_state == state


def test_a_running_job_has_its_title_queue_nodes_and_times() -> None:
    info = job_info_from_pbs_record(RECORDS['running'])
    assert (info.job_id, info.title, info.queue_name, info.job_owner) == ('1', 'aiida-7', 'workq', 'fireuser')
    assert (info.num_machines, info.allocated_machines_raw) == (1, 'pbs')
    assert info.dispatch_time == datetime.datetime.fromtimestamp(1750361271, tz=datetime.timezone.utc)
    assert (info.wallclock_time_seconds, info.requested_wallclock_time_seconds) == (10, 300)


def test_a_job_that_has_not_finished_has_no_exit_status() -> None:
    """FirecREST says ``exitCode`` 0 until PBS sets ``Exit_status``."""
    assert 'exit_status' not in job_info_from_pbs_record(RECORDS['running'])


def test_a_queued_job_has_no_nodes_and_no_start() -> None:
    info = job_info_from_pbs_record(RECORDS['queued'])
    assert 'allocated_machines_raw' not in info
    assert 'dispatch_time' not in info


@pytest.mark.parametrize(
    ('name', 'exit_status', 'signal'),
    [('finished', 0, None), ('failed', 3, None), ('deleted_while_running', 271, 15)],
)
def test_a_finished_job_has_its_exit_status_and_ending_signal(
    name: str, exit_status: int, signal: int | None
) -> None:
    info = job_info_from_pbs_record(RECORDS[name])
    assert (info.exit_status, info.get('terminating_signal')) == (exit_status, signal)


def test_a_job_pbs_killed_over_its_walltime_says_so() -> None:
    assert job_info_from_pbs_record(RECORDS['over_walltime']).annotation == (
        'PBS killed the job: it exceeded its walltime'
    )


# --- parse_output ---


def _detailed(name: str) -> dict[str, str | int]:
    return {'retval': 0, 'stdout': json.dumps([RECORDS[name]]), 'stderr': ''}


@pytest.mark.parametrize(
    ('name', 'exit_code'),
    [
        ('over_walltime', 'ERROR_SCHEDULER_OUT_OF_WALLTIME'),
        ('over_memory', 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
        ('over_virtual_memory', 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
    ],
)
def test_a_pbs_kill_over_a_limit_is_the_scheduler_exit_code(name: str, exit_code: str) -> None:
    assert FirecrestPbsScheduler().parse_output(_detailed(name)) == CalcJob.exit_codes[exit_code]


@pytest.mark.parametrize('name', ['finished', 'failed', 'deleted_while_running'])
def test_other_endings_are_left_to_the_parser(name: str) -> None:
    assert FirecrestPbsScheduler().parse_output(_detailed(name)) is None


@pytest.mark.parametrize(
    ('stderr', 'exit_code'),
    [
        ('=>> PBS: job killed: walltime 65 exceeded limit 60\n', 'ERROR_SCHEDULER_OUT_OF_WALLTIME'),
        ('=>> PBS: job killed: mem 1048580kb exceeded limit 1048576kb\n', 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
    ],
)
def test_without_a_record_pbss_message_in_stderr_gives_the_exit_code(stderr: str, exit_code: str) -> None:
    detailed: dict[str, str | int] = {'retval': 1, 'stdout': '', 'stderr': 'unreachable'}
    assert FirecrestPbsScheduler().parse_output(detailed, '', stderr) == CalcJob.exit_codes[exit_code]


# --- calls ---


def test_a_poll_reads_pbs_records_in_one_request() -> None:
    api = FakeApi([RECORDS['running'], RECORDS['held']])
    jobs = _scheduler(api).get_jobs(jobs=['1', '3'], as_dict=True)
    assert {job_id: info.job_state for job_id, info in jobs.items()} == {
        '1': JobState.RUNNING,
        '3': JobState.QUEUED_HELD,
    }
    assert api.calls == [('job_info', 'cluster')]


def test_a_job_qstat_does_not_know_is_left_out() -> None:
    """PBS systems answer 500 "Unknown Job Id" where Slurm systems answer 404."""

    class PbsApi(FakeApi):
        async def job_info(self, system: str, jobid: str | None = None) -> list[dict[str, t.Any]]:
            if jobid is not None and jobid not in self.known:
                raise _error(500, UNKNOWN_JOB)
            return await super().job_info(system, jobid)

    assert _scheduler(PbsApi([])).get_jobs(jobs=['99']) == []


def test_killing_a_finished_job_is_refused() -> None:
    api = FakeApi([])
    api.cancel_error = _error(500, FINISHED_JOB)
    assert _scheduler(api).kill_job('8') is False


def test_a_slurm_system_is_refused_before_submitting() -> None:
    api = FakeApi([])
    with pytest.raises(SchedulerError, match=r'runs slurm, not pbs: .*`firecrest`'):
        _scheduler(api, scheduler_type='slurm').submit_job('/home/u/aa', '_aiidasubmit.sh')
    assert api.calls == []


def test_submission_names_the_uploaded_script() -> None:
    api = FakeApi([])
    assert _scheduler(api).submit_job('/home/u/aa', '_aiidasubmit.sh') == '74'
    assert [call[:5] for call in api.calls] == [
        ('submit', 'cluster', '/home/u/aa', 'script_remote_path', '/home/u/aa/_aiidasubmit.sh')
    ]
