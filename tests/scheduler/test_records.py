"""FirecREST job records (recorded from a real server) -> ``JobInfo``, states mapped as core.slurm does."""

from __future__ import annotations

import datetime
import json
import typing as t
from pathlib import Path

import pytest
from aiida.schedulers.datastructures import JobInfo, JobState
from aiida.schedulers.plugins.slurm import _MAP_STATUS_SLURM

from aiida_firecrest.job_records import HELD_REASONS, job_info_from_record, job_state_from_record, own_fields

HERE = Path(__file__).parent
RECORDS: dict[str, dict[str, t.Any]] = json.loads((HERE / 'job_records.json').read_text())

SLURM_STATE_NAMES = {
    'CA': 'CANCELLED',
    'CD': 'COMPLETED',
    'CF': 'CONFIGURING',
    'CG': 'COMPLETING',
    'F': 'FAILED',
    'NF': 'NODE_FAIL',
    'PD': 'PENDING',
    'PR': 'PREEMPTED',
    'R': 'RUNNING',
    'S': 'SUSPENDED',
    'TO': 'TIMEOUT',
}
"""squeue's compact state codes (what core.slurm maps) and the full names that FirecREST reports."""


def _record(state: str, reason: str | None = 'None', tasks: list[str] | None = None) -> dict[str, t.Any]:
    task_records = [{'id': '1.batch', 'name': 'batch', 'status': {'state': task}} for task in tasks or []]
    return {'jobId': '1', 'status': {'state': state, 'stateReason': reason}, 'tasks': task_records}


def test_every_core_slurm_state_is_known() -> None:
    assert set(SLURM_STATE_NAMES) == set(_MAP_STATUS_SLURM)


@pytest.mark.parametrize(('code', 'name'), SLURM_STATE_NAMES.items())
def test_state_maps_as_core_slurm_maps_it(code: str, name: str) -> None:
    assert job_state_from_record(_record(name)) == _MAP_STATUS_SLURM[code]


@pytest.mark.parametrize(
    ('state', 'expected'),
    [
        ('OUT_OF_MEMORY', JobState.DONE),
        ('BOOT_FAIL', JobState.DONE),
        ('DEADLINE', JobState.DONE),
        ('REVOKED', JobState.DONE),
        ('REQUEUED', JobState.QUEUED),
        ('REQUEUE_HOLD', JobState.QUEUED_HELD),
        ('SPECIAL_EXIT', JobState.QUEUED_HELD),
        ('STOPPED', JobState.SUSPENDED),
        ('SIGNALING', JobState.RUNNING),
        ('CANCELLED by 1001', JobState.DONE),
        ('CANCELLED+', JobState.DONE),
        ('running', JobState.RUNNING),
        ('SOMETHING_NEW', JobState.UNDETERMINED),
        ('', JobState.UNDETERMINED),
    ],
)
def test_accounting_only_and_odd_states(state: str, expected: JobState) -> None:
    assert job_state_from_record(_record(state)) == expected


@pytest.mark.parametrize('reason', sorted(HELD_REASONS))
def test_held_reasons_make_a_pending_job_queued_held(reason: str) -> None:
    assert job_state_from_record(_record('PENDING', reason)) == JobState.QUEUED_HELD


@pytest.mark.parametrize('reason', ['Priority', 'Resources', 'None', None, 'ReqNodeNotAvail'])
def test_other_reasons_leave_a_pending_job_queued(reason: str | None) -> None:
    assert job_state_from_record(_record('PENDING', reason)) == JobState.QUEUED


def test_held_reason_on_a_finished_job_does_not_matter() -> None:
    assert job_state_from_record(_record('CANCELLED by 1001', 'Dependency')) == JobState.DONE


@pytest.mark.parametrize(
    ('name', 'expected'),
    [
        ('pending_priority', JobState.QUEUED),
        ('pending_none_reason', JobState.QUEUED),
        ('running', JobState.RUNNING),
        ('completed', JobState.DONE),
        ('cancelled_by_uid', JobState.DONE),
        ('failed_exit_3', JobState.DONE),
        ('timeout', JobState.DONE),
        ('held_user', JobState.QUEUED_HELD),
        ('dependency', JobState.QUEUED_HELD),
        ('cancelled_while_held', JobState.DONE),
        ('failed_bad_workdir', JobState.DONE),
        ('transient_allocation_pending', JobState.RUNNING),
        ('transient_allocation_completed', JobState.DONE),
    ],
)
def test_recorded_records_map_to_their_state(name: str, expected: JobState) -> None:
    assert job_info_from_record(RECORDS[name]).job_state == expected


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)


def test_fields_of_a_completed_job() -> None:
    info = job_info_from_record(RECORDS['completed'])
    assert dict(info) == {
        'job_id': '13',
        'job_state': JobState.DONE,
        'job_substate': 'COMPLETED',
        'exit_status': 0,
        'terminating_signal': 0,
        'job_owner': 'fireuser',
        'account': 'myproject',
        'title': 'sample-basic',
        'queue_name': 'normal',
        'num_machines': 1,
        'allocated_machines_raw': 'vm',
        'dispatch_time': _utc(1795357825),
        'finish_time': _utc(1795357833),
        'wallclock_time_seconds': 8,
        'requested_wallclock_time_seconds': 3600,
    }


def test_a_pending_job_has_no_times_used_nor_exit_code() -> None:
    info = job_info_from_record(RECORDS['pending_priority'])
    assert (info.annotation, info.requested_wallclock_time_seconds) == ('Priority', 3600)
    assert [info.dispatch_time, info.finish_time, info.wallclock_time_seconds, info.exit_status] == [None] * 4


def test_exit_code_and_signal_of_failed_jobs() -> None:
    assert job_info_from_record(RECORDS['failed_exit_3']).exit_status == 3
    assert job_info_from_record(RECORDS['failed_bad_workdir']).terminating_signal == 53


def test_the_uid_stays_in_the_substate_of_a_cancelled_job() -> None:
    assert job_info_from_record(RECORDS['cancelled_by_uid']).job_substate == 'CANCELLED by 1001'


def test_timeout_reports_the_time_limit_and_the_time_used() -> None:
    info = job_info_from_record(RECORDS['timeout'])
    assert (info.wallclock_time_seconds, info.requested_wallclock_time_seconds) == (85, 60)


@pytest.mark.parametrize('name', ['transient_allocation_pending', 'transient_allocation_completed'])
def test_transient_allocation_record_hides_its_placeholder_values(name: str) -> None:
    info = job_info_from_record(RECORDS[name])
    # JobInfo declares these str and int: a placeholder record leaves them None all the same.
    placeholders: tuple[object, ...] = (info.title, info.queue_name, info.requested_wallclock_time_seconds)
    assert placeholders == (None, None, None)
    assert info.job_owner == 'fireuser'


def test_only_the_jobs_own_record_gives_the_fields_the_placeholder_lacks() -> None:
    assert own_fields(RECORDS['completed']) == {
        'title': 'sample-basic',
        'queue_name': 'normal',
        'requested_wallclock_time_seconds': 3600,
    }
    assert own_fields(RECORDS['transient_allocation_completed']) == {}


def test_a_placeholder_record_takes_the_known_fields_of_the_jobs_own_record() -> None:
    known = own_fields(RECORDS['transfer_pending_before_placeholder'])
    info = job_info_from_record(RECORDS['transient_allocation_completed'], known=known)
    assert (info.title, info.queue_name, info.requested_wallclock_time_seconds) == ('CopyFiles', 'xfer', 900)
    assert (info.job_substate, info.exit_status) == ('COMPLETED', 0)


def test_a_job_named_allocation_for_real_keeps_its_name() -> None:
    record = dict(RECORDS['completed'], name='allocation')
    assert job_info_from_record(record).title == 'allocation'


def test_job_info_survives_serialization() -> None:
    info = job_info_from_record(RECORDS['running'])
    assert JobInfo.load_from_serialized(info.serialize()) == info
