"""Which FirecREST calls the scheduler makes, and how it reads their answers (a scripted fake API).

The end-to-end behaviour against the demo server is in ``tests/e2e``; here each request budget and
error path is pinned down without a server.
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from aiida.engine import CalcJob
from aiida.schedulers import SchedulerError
from aiida.schedulers.datastructures import JobState
from firecrest.FirecrestException import UnexpectedStatusException

from aiida_firecrest.job_notes import clear_job_notes
from aiida_firecrest.remote import FirecrestRemote
from aiida_firecrest.scheduler import MAX_CONCURRENT_LOOKUPS, FirecrestScheduler

T = t.TypeVar('T')

HERE = Path(__file__).parent
RECORDS: dict[str, dict[str, t.Any]] = json.loads((HERE / 'job_records.json').read_text())
BAD_PARTITION = (
    'Unexpected Slurm command response. exit_status:1 std_err:'
    'sbatch: error: invalid partition specified: nope\n'
    'sbatch: error: Batch job submission failed: Invalid partition name specified\n'
)
BAD_ACCOUNT = (
    'Unexpected Slurm command response. exit_status:1 std_err:sbatch: error: Batch job submission failed: '
    'Invalid account or account/partition combination specified\n'
)
UNREADABLE = (
    'Unexpected Slurm command response. exit_status:1 std_err:'
    'sbatch: error: Unable to open file /scratch/u/aa/_aiidasubmit.sh\n'
)
ALREADY_DONE = (
    'Unexpected Slurm command response. exit_status:0 std_err:scancel: error: Kill job error on job id 15: '
    'Job/step already completing or completed\n'
)


def _error(status: int, message: str) -> UnexpectedStatusException:
    request = httpx.Request('GET', 'http://firecrest.test/compute/cluster/jobs')
    body = {'errorType': 'error', 'message': message, 'causedBy': None, 'data': None, 'user': 'fireuser'}
    return UnexpectedStatusException([httpx.Response(status, json=body, request=request)], 200)


def _job(job_id: str, name: str = 'running') -> dict[str, t.Any]:
    return dict(RECORDS[name], jobId=job_id)


class FakeApi:
    """The ``AsyncFirecrest`` methods the scheduler uses, answering from a scripted job table."""

    def __init__(self, listed: list[dict[str, t.Any]], unlisted: Sequence[dict[str, t.Any]] = ()) -> None:
        self.listed = listed
        self.known = {job['jobId']: job for job in [*listed, *unlisted]}
        self.calls: list[tuple[str, ...]] = []
        self.submit_errors: list[Exception] = []
        self.in_flight = self.most_in_flight = 0
        self.files: dict[str, str] = {}
        self.cancel_error: Exception | None = None

    async def submit(
        self, system: str, working_dir: str, account: str | None, **script: str
    ) -> dict[str, str]:
        ((how, what),) = script.items()
        self.calls.append(('submit', system, working_dir, how, what, str(account)))
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        return {'jobId': '74'}

    async def view(self, system: str, path: str) -> str:
        self.calls.append(('view', system, path))
        if path not in self.files:
            raise _error(
                404, f'Remote process failed with exit status:1 and error message:{path}: No such file'
            )
        return self.files[path]

    async def job_info(self, system: str, jobid: str | None = None) -> list[dict[str, t.Any]]:
        self.calls.append(('job_info', system) if jobid is None else ('job_info', system, jobid))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if jobid is None:
            return self.listed
        if jobid not in self.known:
            raise _error(404, 'Job not found.')
        return [self.known[jobid]]

    async def cancel_job(self, system: str, jobid: str) -> dict[str, t.Any]:
        self.calls.append(('cancel_job', system, jobid))
        if self.cancel_error is not None:
            raise self.cancel_error
        return {}


class FakeTransport:
    """A transport with a FirecREST ``client`` (on a ``scheduler_type`` system) and AiiDA's bridge.

    :param described: whether the process has the system's description already (else it is asked).
    """

    def __init__(self, api: FakeApi, scheduler_type: str = 'slurm', described: bool = True) -> None:
        config = SimpleNamespace(url='http://firecrest.test')
        description = {'name': 'cluster', 'scheduler': {'type': scheduler_type}}
        self.asked_for_the_description = 0

        async def system_info() -> dict[str, t.Any]:
            self.asked_for_the_description += 1
            return description

        self.client = SimpleNamespace(
            api=api,
            system='cluster',
            account='myproject',
            config=config,
            system_info=system_info,
            known_system_info=lambda: description if described else None,
        )
        self.remote = FirecrestRemote(self.client)  # type: ignore[arg-type]

    def run_command_blocking(self, func: t.Callable[..., t.Coroutine[t.Any, t.Any, T]], *args: t.Any) -> T:
        return asyncio.run(func(*args))


@pytest.fixture(autouse=True)
def _fresh_process() -> None:
    """What the scheduler learnt about jobs in earlier tests is forgotten, as in a new process."""
    clear_job_notes()


def _scheduler(
    api: FakeApi,
    grace: float = 60.0,
    just_submitted: float = 0.0,
    scheduler_type: str = 'slurm',
    described: bool = True,
) -> FirecrestScheduler:
    """A scheduler on ``api``; by default it polls a job it has just submitted (``just_submitted`` 0)."""
    scheduler = FirecrestScheduler()
    scheduler.not_found_grace_seconds = grace  # type: ignore[misc]
    scheduler.just_submitted_seconds = just_submitted  # type: ignore[misc]
    scheduler.set_transport(FakeTransport(api, scheduler_type, described))  # type: ignore[arg-type]
    return scheduler


def test_submit_is_one_request_naming_the_uploaded_script() -> None:
    api = FakeApi([])
    assert _scheduler(api).submit_job('/scratch/u/aa/bb', '_aiidasubmit.sh') == '74'
    assert api.calls == [
        (
            'submit',
            'cluster',
            '/scratch/u/aa/bb',
            'script_remote_path',
            '/scratch/u/aa/bb/_aiidasubmit.sh',
            'myproject',
        )
    ]


@pytest.mark.parametrize(
    ('scheduler_type', 'advice'), [('pbs', '`firecrest.pbs`'), ('lsf', 'no plugin for it')]
)
def test_a_system_of_another_scheduler_is_refused_before_submitting(scheduler_type: str, advice: str) -> None:
    """Its scheduler would ignore the script's #SBATCH directives and run the job with its defaults."""
    api = FakeApi([])
    with pytest.raises(SchedulerError, match=rf'runs {scheduler_type}, not slurm: .*{advice}'):
        _scheduler(api, scheduler_type=scheduler_type).submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert api.calls == []


def test_submission_does_not_ask_for_the_system_description() -> None:
    """A CalcJob's request budget has no room for it: configure and ``verdi computer test`` check."""
    api = FakeApi([])
    scheduler = _scheduler(api, scheduler_type='pbs', described=False)
    assert scheduler.submit_job('/scratch/u/aa', '_aiidasubmit.sh') == '74'
    assert scheduler.transport.asked_for_the_description == 0  # type: ignore[attr-defined]


def test_verdi_computer_test_fails_on_a_system_of_another_scheduler() -> None:
    """It lists all jobs (``get_jobs()``), which the engine never does: the description is asked there."""
    api = FakeApi([])
    with pytest.raises(SchedulerError, match=r'runs pbs, not slurm: .*`firecrest.pbs`'):
        _scheduler(api, scheduler_type='pbs', described=False).get_jobs()
    assert api.calls == []


def test_a_poll_of_jobs_does_not_ask_for_the_system_description() -> None:
    api = FakeApi([])
    scheduler = _scheduler(api, described=False)
    scheduler.get_jobs(jobs=['7'])
    assert scheduler.transport.asked_for_the_description == 0  # type: ignore[attr-defined]


def test_a_system_that_does_not_name_its_scheduler_is_submitted_to() -> None:
    api = FakeApi([])
    assert _scheduler(api, scheduler_type='').submit_job('/scratch/u/aa', '_aiidasubmit.sh') == '74'


def test_a_script_the_server_cannot_open_by_path_is_sent_inline() -> None:
    api = FakeApi([])
    api.submit_errors = [_error(500, UNREADABLE)]
    api.files['/scratch/u/aa/_aiidasubmit.sh'] = '#!/bin/bash\ntrue\n'
    assert _scheduler(api).submit_job('/scratch/u/aa', '_aiidasubmit.sh') == '74'
    assert [call[:4] for call in api.calls] == [
        ('submit', 'cluster', '/scratch/u/aa', 'script_remote_path'),
        ('view', 'cluster', '/scratch/u/aa/_aiidasubmit.sh'),
        ('submit', 'cluster', '/scratch/u/aa', 'script_str'),
    ]
    assert api.calls[-1][4] == '#!/bin/bash\ntrue\n'


def test_a_missing_script_is_a_scheduler_error() -> None:
    api = FakeApi([])
    api.submit_errors = [_error(500, UNREADABLE)]
    with pytest.raises(SchedulerError, match='No such file'):
        _scheduler(api).submit_job('/scratch/u/aa', '_aiidasubmit.sh')


def test_a_rejected_submission_is_a_scheduler_error_with_the_servers_message() -> None:
    api = FakeApi([])
    api.submit_errors = [_error(500, BAD_PARTITION)]
    with pytest.raises(SchedulerError, match='Invalid partition name specified'):
        _scheduler(api).submit_job('/scratch/u/aa', '_aiidasubmit.sh')


def test_an_invalid_account_is_the_exit_code_core_slurm_returns() -> None:
    api = FakeApi([])
    api.submit_errors = [_error(500, BAD_ACCOUNT)]
    result = _scheduler(api).submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert result == CalcJob.exit_codes.ERROR_SCHEDULER_INVALID_ACCOUNT


def test_a_poll_is_one_list_request_when_every_job_is_listed() -> None:
    api = FakeApi([_job('1'), _job('2', 'completed'), _job('3', 'pending_priority')])
    jobs = _scheduler(api).get_jobs(jobs=['1', '3'], as_dict=True)
    assert {job_id: info.job_state for job_id, info in jobs.items()} == {
        '1': JobState.RUNNING,
        '3': JobState.QUEUED,
    }
    assert api.calls == [('job_info', 'cluster')]


def test_a_recorded_job_list_gives_the_requested_jobs_in_one_request() -> None:
    api = FakeApi(json.loads((HERE / 'job_list.json').read_text())['jobs'])
    jobs = _scheduler(api).get_jobs(jobs=['12', '13', '15', '20'], as_dict=True)
    assert {job_id: info.job_state for job_id, info in jobs.items()} == {
        '12': JobState.RUNNING,
        '13': JobState.DONE,
        '15': JobState.DONE,
        '20': JobState.QUEUED_HELD,
    }
    assert api.calls == [('job_info', 'cluster')]


def test_only_jobs_missing_from_the_list_are_asked_for_individually() -> None:
    api = FakeApi([_job('1')], unlisted=[_job('7', 'completed')])
    jobs = _scheduler(api).get_jobs(jobs=['1', '7', '8'], as_dict=True)
    assert sorted(jobs) == ['1', '7']
    assert sorted(api.calls) == [
        ('job_info', 'cluster'),
        ('job_info', 'cluster', '7'),
        ('job_info', 'cluster', '8'),
    ]


def test_individual_requests_for_missing_jobs_are_bounded() -> None:
    missing = [str(job_id) for job_id in range(100, 130)]
    api = FakeApi([], unlisted=[_job(job_id, 'completed') for job_id in missing])
    assert len(_scheduler(api).get_jobs(jobs=missing)) == len(missing)
    assert api.most_in_flight == MAX_CONCURRENT_LOOKUPS


def test_without_a_job_list_every_listed_job_is_returned() -> None:
    api = FakeApi([_job('1'), _job('2', 'completed')])
    assert [info.job_id for info in _scheduler(api).get_jobs()] == ['1', '2']


def test_a_job_just_submitted_and_missing_from_the_list_is_queued_without_asking_for_it() -> None:
    """The Slurm database lags: asking for each such job on every poll would only hear 404 again."""
    api = FakeApi([])
    scheduler = _scheduler(api)
    job_id = scheduler.submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert isinstance(job_id, str), job_id
    api.calls.clear()
    assert scheduler.get_jobs(jobs=[job_id], as_dict=True)[job_id].job_state == JobState.QUEUED
    assert api.calls == [('job_info', 'cluster')]


def test_after_the_grace_period_an_unknown_job_is_left_out() -> None:
    api = FakeApi([])
    scheduler = _scheduler(api, grace=0.0)
    job_id = scheduler.submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert isinstance(job_id, str), job_id
    assert scheduler.get_jobs(jobs=[job_id]) == []


def test_an_unknown_job_this_process_did_not_submit_is_left_out() -> None:
    assert _scheduler(FakeApi([])).get_jobs(jobs=['999999']) == []


def test_the_last_record_of_a_requeued_job_wins() -> None:
    api = FakeApi([_job('5', 'completed'), _job('5', 'pending_priority')])
    assert _scheduler(api).get_jobs(jobs=['5'])[0].job_state == JobState.QUEUED


def test_a_poll_right_after_submission_is_answered_queued_without_a_request() -> None:
    api = FakeApi([])
    scheduler = _scheduler(api, just_submitted=60.0)
    job_id = scheduler.submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert isinstance(job_id, str), job_id
    api.calls.clear()
    assert scheduler.get_jobs(jobs=[job_id], as_dict=True)[job_id].job_state == JobState.QUEUED
    assert api.calls == []


def test_a_poll_of_a_just_submitted_job_and_an_older_one_asks_the_list() -> None:
    api = FakeApi([_job('1'), _job('74', 'pending_priority')])
    scheduler = _scheduler(api, just_submitted=60.0)
    job_id = scheduler.submit_job('/scratch/u/aa', '_aiidasubmit.sh')
    assert isinstance(job_id, str), job_id
    api.calls.clear()
    jobs = scheduler.get_jobs(jobs=['1', job_id], as_dict=True)
    assert {job_id: info.job_state for job_id, info in jobs.items()} == {
        '1': JobState.RUNNING,
        '74': JobState.QUEUED,
    }
    assert api.calls == [('job_info', 'cluster')]


def test_a_placeholder_record_carries_what_the_jobs_own_record_said() -> None:
    api = FakeApi([RECORDS['transfer_pending_before_placeholder']])
    scheduler = _scheduler(api)
    scheduler.get_jobs(jobs=['30'])
    api.listed = [RECORDS['transient_allocation_completed']]
    info = scheduler.get_jobs(jobs=['30'], as_dict=True)['30']
    assert (info.job_state, info.title, info.queue_name, info.requested_wallclock_time_seconds) == (
        JobState.DONE,
        'CopyFiles',
        'xfer',
        900,
    )


def test_a_placeholder_record_of_a_job_never_seen_before_has_no_title() -> None:
    info = _scheduler(FakeApi([RECORDS['transient_allocation_completed']])).get_jobs(jobs=['30'])[0]
    assert (info.job_state, info.get('title')) == (JobState.DONE, None)


def test_detailed_job_info_after_the_poll_that_found_the_job_finished_sends_no_request() -> None:
    api = FakeApi([_job('12', 'timeout')])
    scheduler = _scheduler(api)
    assert scheduler.get_jobs(jobs=['12'])[0].job_state == JobState.DONE
    api.calls.clear()
    detailed = scheduler.get_detailed_job_info('12')
    assert json.loads(str(detailed['stdout'])) == [_job('12', 'timeout')]
    assert api.calls == []


def test_detailed_job_info_is_asked_again_once_the_polled_record_was_used() -> None:
    api = FakeApi([_job('12', 'timeout')])
    scheduler = _scheduler(api)
    scheduler.get_jobs(jobs=['12'])
    scheduler.get_detailed_job_info('12')
    api.calls.clear()
    scheduler.get_detailed_job_info('12')
    assert api.calls == [('job_info', 'cluster', '12')]


def test_polling_by_user_is_not_supported() -> None:
    with pytest.raises(SchedulerError):
        _scheduler(FakeApi([])).get_jobs(user='fireuser')


def test_kill_is_one_request_and_true_when_accepted() -> None:
    api = FakeApi([])
    assert _scheduler(api).kill_job('15') is True
    assert api.calls == [('cancel_job', 'cluster', '15')]


def test_kill_is_false_when_the_server_refuses() -> None:
    api = FakeApi([])
    api.cancel_error = _error(500, ALREADY_DONE)
    assert _scheduler(api).kill_job('15') is False


def test_detailed_job_info_is_the_job_record_as_json() -> None:
    api = FakeApi([], unlisted=[_job('12', 'timeout')])
    detailed = _scheduler(api).get_detailed_job_info('12')
    assert detailed['retval'] == 0
    assert json.loads(str(detailed['stdout'])) == [_job('12', 'timeout')]
    assert FirecrestScheduler().parse_output(detailed) == CalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME


def test_detailed_job_info_of_an_unknown_job_has_a_nonzero_retval() -> None:
    detailed = _scheduler(FakeApi([])).get_detailed_job_info('999999')
    assert (detailed['retval'], detailed['stdout']) == (1, '')
    assert 'Job not found.' in str(detailed['stderr'])


def test_another_transport_is_refused_with_a_clear_error() -> None:
    scheduler = FirecrestScheduler()
    scheduler.set_transport(SimpleNamespace())  # type: ignore[arg-type]
    with pytest.raises(SchedulerError, match='firecrest transport'):
        scheduler.kill_job('1')
