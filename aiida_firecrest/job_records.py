"""Pure readers of FirecREST's Slurm job records: states, ``JobInfo`` fields, how a job ended.

A record is one entry of ``GET /compute/{system}/jobs[/{id}]``. States map as core.slurm maps Slurm's;
the placeholder record Slurm's accounting shows for a moment around a quick job's completion (name
'allocation', no partition) gives no title, partition or time limit, so :func:`own_fields` keeps those of
the job's own record for later polls. Nothing here sends a request; the tests feed it recorded records.
"""

from __future__ import annotations

import datetime
import json
import typing as t
from collections.abc import Iterable, Mapping

from aiida.engine.processes.exit_code import ExitCode
from aiida.schedulers.datastructures import JobInfo, JobState

__all__ = (
    'ERROR_ENDINGS',
    'HELD_REASONS',
    'calcjob_exit_code',
    'job_ending',
    'job_info_from_record',
    'job_state_from_record',
    'latest_records',
    'own_fields',
    'queued',
    'records_from_detailed_info',
    'timestamp',
)

_STATE_MAP: dict[str, JobState] = {
    # The states core.slurm knows, by their full names (core.slurm reads squeue's compact codes).
    'CANCELLED': JobState.DONE,
    'COMPLETED': JobState.DONE,
    'CONFIGURING': JobState.QUEUED,
    'COMPLETING': JobState.RUNNING,
    'FAILED': JobState.DONE,
    'NODE_FAIL': JobState.DONE,
    'PENDING': JobState.QUEUED,
    'PREEMPTED': JobState.DONE,
    'RUNNING': JobState.RUNNING,
    'SUSPENDED': JobState.SUSPENDED,
    'TIMEOUT': JobState.DONE,
    # States that only the accounting database (sacct, which FirecREST reads too) reports, or that
    # newer Slurm versions added: final ones are DONE, so that AiiDA never waits on them forever.
    'BOOT_FAIL': JobState.DONE,
    'DEADLINE': JobState.DONE,
    'OUT_OF_MEMORY': JobState.DONE,
    'REVOKED': JobState.DONE,
    'REQUEUED': JobState.QUEUED,
    'REQUEUE_FED': JobState.QUEUED,
    'REQUEUE_HOLD': JobState.QUEUED_HELD,
    'RESV_DEL_HOLD': JobState.QUEUED_HELD,
    'SPECIAL_EXIT': JobState.QUEUED_HELD,
    'RESIZING': JobState.RUNNING,
    'SIGNALING': JobState.RUNNING,
    'STAGE_OUT': JobState.RUNNING,
    'STOPPED': JobState.SUSPENDED,
}

HELD_REASONS = frozenset({'Dependency', 'JobHeldUser', 'JobHeldAdmin', 'BeginTime'})
"""Reasons that make a pending job ``QUEUED_HELD`` (the same list as core.slurm's)."""

ERROR_ENDINGS = {
    'OUT_OF_MEMORY': 'ERROR_SCHEDULER_OUT_OF_MEMORY',
    'TIMEOUT': 'ERROR_SCHEDULER_OUT_OF_WALLTIME',
    'NODE_FAIL': 'ERROR_SCHEDULER_NODE_FAILURE',
}


_TRANSIENT_NAME = 'allocation'
"""Name that Slurm's accounting shows for a job for a moment around its completion (recording 52)."""
_PLACEHOLDER_BLANKS = ('title', 'queue_name', 'requested_wallclock_time_seconds')
"""The ``JobInfo`` fields that the transient 'allocation' record cannot give."""


def _base_state(raw_state: str) -> str:
    """``'CANCELLED by 1001'`` -> ``'CANCELLED'``; ``'CANCELLED+'`` (sacct) -> ``'CANCELLED'``."""
    words = raw_state.split()
    return words[0].rstrip('+').upper() if words else ''


def _task_states(record: Mapping[str, t.Any]) -> list[str]:
    return [
        _base_state(str((task.get('status') or {}).get('state') or '')) for task in record.get('tasks') or []
    ]


def _is_transient(record: Mapping[str, t.Any]) -> bool:
    """The placeholder record Slurm shows briefly around completion: name 'allocation', no partition."""
    return (
        record.get('name') == _TRANSIENT_NAME
        and not record.get('partition')
        and not record.get('workingDirectory')
    )


def job_state_from_record(record: Mapping[str, t.Any]) -> JobState:
    """The AiiDA state of a FirecREST job record, mapped as core.slurm maps Slurm's states.

    Pending jobs held by the user or an admin, or waiting for a dependency or a begin time, are
    ``QUEUED_HELD``. A pending record whose batch task already runs (seen on the transient
    'allocation' record) is ``RUNNING``. Unknown states are ``UNDETERMINED``.
    """
    status = record.get('status') or {}
    state = _STATE_MAP.get(_base_state(str(status.get('state') or '')), JobState.UNDETERMINED)
    if state is JobState.QUEUED and 'RUNNING' in _task_states(record):
        return JobState.RUNNING
    if state is JobState.QUEUED and status.get('stateReason') in HELD_REASONS:
        return JobState.QUEUED_HELD
    return state


def timestamp(value: t.Any) -> datetime.datetime | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)


def _time_fields(times: Mapping[str, t.Any], transient: bool) -> dict[str, t.Any]:
    start = timestamp(times.get('start'))
    return {
        'dispatch_time': start,
        'finish_time': timestamp(times.get('end')),
        'wallclock_time_seconds': times.get('elapsed') if start is not None else None,
        'requested_wallclock_time_seconds': None if transient else times.get('limit'),
    }


def _record_fields(record: Mapping[str, t.Any], transient: bool) -> dict[str, t.Any]:
    status = record.get('status') or {}
    reason = status.get('stateReason')
    return {
        'job_substate': status.get('state'),
        'annotation': None if reason in (None, 'None') else reason,
        'exit_status': status.get('exitCode'),
        'terminating_signal': status.get('interruptSignal'),
        'job_owner': record.get('user'),
        'account': record.get('account') or None,
        'title': None if transient else record.get('name'),
        'queue_name': None if transient else record.get('partition') or None,
        'num_machines': record.get('allocationNodes') or None,
        'allocated_machines_raw': record.get('nodes') or None,
    }


def job_info_from_record(record: Mapping[str, t.Any], known: Mapping[str, t.Any] | None = None) -> JobInfo:
    """A ``JobInfo`` from one record of ``GET /compute/{system}/jobs[/{id}]``.

    Fields the record does not have stay undefined: the submission time (FirecREST does not report
    it) and, on the transient 'allocation' record, the title, partition and time limit, unless
    ``known`` has them (see :func:`own_fields`).

    :param known: fields of the job's own record, seen earlier.
    """
    transient = _is_transient(record)
    info = JobInfo()
    info.job_id = str(record['jobId'])
    info.job_state = job_state_from_record(record)
    fields = {**_record_fields(record, transient), **_time_fields(record.get('time') or {}, transient)}
    if transient and known:
        fields.update(known)
    info.update({key: value for key, value in fields.items() if value is not None})
    return info


def own_fields(record: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The ``JobInfo`` fields that only the job's own record has (none if ``record`` is the placeholder)."""
    if _is_transient(record):
        return {}
    info = job_info_from_record(record)
    return {key: info[key] for key in _PLACEHOLDER_BLANKS if key in info}


def job_ending(records: Iterable[Mapping[str, t.Any]]) -> str | None:
    """How a finished job ended, as a Slurm state name (``'TIMEOUT'``, ``'OUT_OF_MEMORY'`` ...).

    The job-level state, unless a task ran out of memory or lost its node while the job itself only
    says ``FAILED`` or ``CANCELLED``. None when there is no record.
    """
    for record in records:
        job_state = _base_state(str((record.get('status') or {}).get('state') or ''))
        if job_state in ERROR_ENDINGS:
            return job_state
        for task_state in _task_states(record):
            if task_state in ('OUT_OF_MEMORY', 'NODE_FAIL'):
                return task_state
        return job_state
    return None


def records_from_detailed_info(detailed_job_info: Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    try:
        records = json.loads(detailed_job_info['stdout'])
    except KeyError:
        raise ValueError('the `detailed_job_info` does not contain the required key `stdout`.') from None
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f'the `detailed_job_info.stdout` is not the JSON of job records: {exc}') from exc
    if not isinstance(records, list):
        raise ValueError('the `detailed_job_info.stdout` is not a list of job records.')
    return records


def queued(job_id: str, annotation: str) -> JobInfo:
    """A job taken as queued without a record of it (``annotation`` says why)."""
    info = JobInfo()
    info.job_id = job_id
    info.job_state = JobState.QUEUED
    info.annotation = annotation
    return info


def latest_records(records: Iterable[Mapping[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Records by job id; when a job has several (requeued jobs), the last one listed."""
    return {str(record['jobId']): dict(record) for record in records}


def calcjob_exit_code(name: str) -> ExitCode:
    """CalcJob's exit code called ``name`` (``'ERROR_SCHEDULER_OUT_OF_MEMORY'`` ...)."""
    from aiida.engine import CalcJob  # the engine imports the schedulers: not at module level

    exit_code: ExitCode = CalcJob.exit_codes[name]
    return exit_code
