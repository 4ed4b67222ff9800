"""``parse_output``: out-of-memory, time-limit and node-failure endings become AiiDA's exit codes."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
from aiida.engine import CalcJob

from aiida_firecrest.job_records import job_ending
from aiida_firecrest.scheduler import FirecrestScheduler

HERE = Path(__file__).parent
RECORDS: dict[str, dict[str, t.Any]] = json.loads((HERE / 'job_records.json').read_text())


def _detailed(*records: dict[str, t.Any], retval: int = 0) -> dict[str, str | int]:
    return {'retval': retval, 'stdout': json.dumps(list(records)), 'stderr': ''}


def _with_states(job_state: str, *task_states: str) -> dict[str, t.Any]:
    tasks = [{'id': '1.batch', 'status': {'state': state}} for state in task_states]
    return dict(RECORDS['failed_exit_3'], status={'state': job_state}, tasks=tasks)


@pytest.mark.parametrize(
    ('record', 'exit_code'),
    [
        (RECORDS['timeout'], 'ERROR_SCHEDULER_OUT_OF_WALLTIME'),
        (_with_states('OUT_OF_MEMORY', 'OUT_OF_MEMORY'), 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
        (_with_states('FAILED', 'OUT_OF_MEMORY'), 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
        (_with_states('NODE_FAIL'), 'ERROR_SCHEDULER_NODE_FAILURE'),
        (_with_states('CANCELLED by 0', 'NODE_FAIL'), 'ERROR_SCHEDULER_NODE_FAILURE'),
    ],
)
def test_scheduler_endings_become_exit_codes(record: dict[str, t.Any], exit_code: str) -> None:
    assert FirecrestScheduler().parse_output(_detailed(record), '', '') == CalcJob.exit_codes[exit_code]


@pytest.mark.parametrize('name', ['completed', 'failed_exit_3', 'cancelled_by_uid', 'failed_bad_workdir'])
def test_other_endings_are_left_to_the_parser(name: str) -> None:
    assert FirecrestScheduler().parse_output(_detailed(RECORDS[name]), '', '') is None


@pytest.mark.parametrize(
    ('stderr', 'exit_code'),
    [
        (
            'slurmstepd: error: Detected 1 oom_kill event. Exceeded job memory limit',
            'ERROR_SCHEDULER_OUT_OF_MEMORY',
        ),
        (
            'slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-11-22 DUE TO TIME LIMIT ***',
            'ERROR_SCHEDULER_OUT_OF_WALLTIME',
        ),
    ],
)
def test_without_a_record_slurms_stderr_messages_decide(stderr: str, exit_code: str) -> None:
    assert FirecrestScheduler().parse_output(None, '', stderr) == CalcJob.exit_codes[exit_code]


def test_a_failed_record_request_falls_back_to_stderr() -> None:
    detailed: dict[str, str | int] = {'retval': 1, 'stdout': '', 'stderr': 'Job not found.'}
    stderr = 'slurmstepd: error: *** JOB 12 CANCELLED AT 2026-11-22 DUE TO TIME LIMIT ***'
    exit_code = FirecrestScheduler().parse_output(detailed, '', stderr)
    assert exit_code == CalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME


@pytest.mark.parametrize(
    'detailed', [{'retval': 0}, {'retval': 0, 'stdout': 'JobID|State'}, {'stdout': '{}'}]
)
def test_detailed_info_that_is_not_job_records_is_an_error(detailed: dict[str, t.Any]) -> None:
    with pytest.raises(ValueError):
        FirecrestScheduler().parse_output(detailed, '', '')


def test_ending_of_no_record_is_unknown() -> None:
    assert job_ending([]) is None
