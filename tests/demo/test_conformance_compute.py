"""The demo's compute endpoints against the recorded real server (exchanges 40-54), and the job rules.

Each recorded file is a sequence (submit, poll, cancel, ...); it is replayed on a fresh in-process
demo after the files it builds on (for example 51 follows up the submissions of 49).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings
from aiida_firecrest.demo.slurm import (
    SlurmError,
    expand_output_path,
    parse_dependencies,
    parse_directives,
    parse_time_limit,
)

from ..recordings import load_exchanges, require_exchanges
from ._replay import JOB_EXACT_KEYS, Replay, is_placeholder

require_exchanges()

EXACT_KEYS = JOB_EXACT_KEYS

SEQUENCES = {
    '40': [],
    '41': ['40'],
    '42': ['40'],
    '43': ['40'],
    '44': [],
    '45': [],
    '46': [],
    '47': [],
    '48': [],
    '49': [],
    '50': [],
    '51': ['49'],
    '52': ['60', '40', '46'],
    '53': ['45'],
    '54': [],
}
"""Recorded file -> the files replayed before it (whose jobs it refers to)."""


@pytest.fixture
def demo_settings(demo_settings: DemoSettings) -> DemoSettings:
    """The demo with the recordings' sample file."""
    samples = demo_settings.scratch / 'samples-fixed001'
    samples.mkdir(parents=True)
    (samples / 'src.txt').write_text('source\n')
    return demo_settings


@pytest.mark.parametrize('prefix', list(SEQUENCES))
def test_recorded_sequence_conforms(replay: Replay, prefix: str) -> None:
    for earlier in SEQUENCES[prefix]:
        replay.run(earlier)
    replay.run(prefix)


# --- behaviours beyond the recordings ------------------------------------------------------------


def _submit(client: TestClient, settings: DemoSettings, script: str, **fields: object) -> str:
    job = {'script': script, 'working_directory': str(settings.scratch), **fields}
    response = client.post(f'/compute/{settings.system_name}/jobs', json={'job': job})
    assert response.status_code == 201, response.text
    return cast(str, response.json()['jobId'])


def _wait(client: TestClient, settings: DemoSettings, job_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f'/compute/{settings.system_name}/jobs/{job_id}').json()['jobs'][0]
        if job['status']['state'] not in {'PENDING', 'RUNNING'} or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_job_sees_slurm_variables_and_submitted_env(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    script = '#!/bin/bash\n#SBATCH --output=env-%j.txt\necho "$SLURM_JOB_ID $SLURM_JOB_NAME $GREETING $PWD"\n'
    job_id = _submit(demo_client, demo_settings, script, name='env-check', env={'GREETING': 'hello'})
    assert _wait(demo_client, demo_settings, job_id)['status']['state'] == 'COMPLETED'
    output = (demo_settings.scratch / f'env-{job_id}.txt').read_text()
    assert output == f'{job_id} env-check hello {demo_settings.scratch}\n'


def test_error_directive_separates_stderr(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    script = '#!/bin/bash\n#SBATCH -o out.txt\n#SBATCH -e err-%j.txt\necho out\necho err >&2\n'
    job_id = _submit(demo_client, demo_settings, script)
    _wait(demo_client, demo_settings, job_id)
    metadata = demo_client.get(f'/compute/{demo_settings.system_name}/jobs/{job_id}/metadata').json()['jobs'][
        0
    ]
    assert Path(metadata['standardOutput']).read_text() == 'out\n'
    assert Path(metadata['standardError']).read_text() == 'err\n'
    assert metadata['standardError'] == str(demo_settings.scratch / f'err-{job_id}.txt')


def test_time_limit_ends_a_job_with_timeout(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\n#SBATCH --time=0:1\nsleep 20\n')
    job = _wait(demo_client, demo_settings, job_id)
    assert job['status'] == {'state': 'TIMEOUT', 'stateReason': 'None', 'exitCode': 0, 'interruptSignal': 0}
    assert job['time'] == {**job['time'], 'limit': 1}


def test_held_job_stays_pending(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\n#SBATCH -H\ntrue\n')
    time.sleep(0.6)
    job = _wait(demo_client, demo_settings, job_id, timeout=0)
    assert (job['status']['state'], job['status']['stateReason'], job['priority']) == (
        'PENDING',
        'JobHeldUser',
        0,
    )


def test_cancel_kills_the_whole_process_group(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    marker = demo_settings.scratch / 'child-survived'
    script = f'#!/bin/bash\n(sleep 0.5; touch {marker}) &\nsleep 20\n'
    job_id = _submit(demo_client, demo_settings, script)
    while _wait(demo_client, demo_settings, job_id, timeout=0)['status']['state'] != 'RUNNING':
        time.sleep(0.05)
    assert demo_client.delete(f'/compute/{demo_settings.system_name}/jobs/{job_id}').status_code == 204
    time.sleep(1.0)
    assert not marker.exists()


def test_processes_left_behind_end_with_the_job(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    marker = demo_settings.scratch / 'straggler-survived'
    job_id = _submit(demo_client, demo_settings, f'#!/bin/bash\n(sleep 0.5; touch {marker}) &\n')
    assert _wait(demo_client, demo_settings, job_id)['status']['state'] == 'COMPLETED'
    time.sleep(1.0)
    assert not marker.exists()


@pytest.mark.parametrize(('method', 'suffix'), [('GET', ''), ('GET', '/metadata'), ('DELETE', '')])
def test_job_id_of_other_than_letters_and_digits_is_a_validation_error(
    method: str, suffix: str, demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    response = demo_client.request(method, f'/compute/{demo_settings.system_name}/jobs/1.batch{suffix}')
    assert response.status_code == 400
    assert response.json()['data']['fields'][0]['name'] == 'job_id'


def test_job_answers_404_while_not_found_switch_lasts(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_settings.job_not_found_for = 0.5
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n')
    url = f'/compute/{demo_settings.system_name}/jobs'
    assert demo_client.get(f'{url}/{job_id}').status_code == 404
    assert demo_client.get(url).json() == {'jobs': []}
    time.sleep(0.6)
    assert demo_client.get(f'{url}/{job_id}').status_code == 200


def test_script_path_submission_runs_the_file(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    demo_settings.placeholder_record_for = 0  # the job's own record, with the name this test checks
    script = demo_settings.scratch / 'job.sh'
    script.write_text('#!/bin/bash\necho from-file\n')
    body = {'job': {'scriptPath': str(script), 'workingDirectory': str(demo_settings.scratch)}}
    job_id = demo_client.post(f'/compute/{demo_settings.system_name}/jobs', json=body).json()['jobId']
    job = _wait(demo_client, demo_settings, job_id)
    assert (job['name'], job['status']['state']) == ('job.sh', 'COMPLETED')
    assert (demo_settings.scratch / f'slurm-{job_id}.out').read_text() == 'from-file\n'


def test_a_quick_job_shows_the_recorded_placeholder_after_it_ends(
    demo_client: TestClient, demo_settings: DemoSettings, replay: Replay
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n', name='quick')
    job = _wait(demo_client, demo_settings, job_id)
    assert is_placeholder(job), job
    (recorded,) = load_exchanges('60')['exchanges'][2]['response']['body']['jobs']
    replay.names.job_ids[recorded['jobId']] = job_id
    replay.conformance.check(recorded, job)


def test_the_jobs_own_record_is_back_after_the_placeholder(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_settings.placeholder_record_for = 0.5
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n', name='quick')
    assert is_placeholder(_wait(demo_client, demo_settings, job_id))
    time.sleep(0.6)
    job = _wait(demo_client, demo_settings, job_id, timeout=0)
    assert (job['name'], job['partition'], job['time']['limit']) == ('quick', 'normal', 3600)


def test_a_job_that_ran_a_second_keeps_its_own_record_when_it_ends(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\nsleep 1.1\n', name='steady')
    job = _wait(demo_client, demo_settings, job_id)
    assert (job['status']['state'], job['name'], job['partition']) == ('COMPLETED', 'steady', 'normal')


HOUR = 3600.0


def _listed(client: TestClient, settings: DemoSettings, **query: str) -> list[str]:
    jobs = client.get(f'/compute/{settings.system_name}/jobs', params=query).json()['jobs']
    return [job['jobId'] for job in jobs]


@pytest.fixture
def finished_job(demo_client: TestClient, demo_settings: DemoSettings) -> str:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n')
    assert _wait(demo_client, demo_settings, job_id)['status']['state'] == 'COMPLETED'
    return job_id


@pytest.mark.parametrize(
    ('age_hours', 'query', 'listed'),
    [
        (23, {}, True),
        (25, {}, False),
        (2, {'time_window': '1h'}, False),
        (2, {'time_window': '8h'}, True),
        (25, {'time_window': '3d'}, True),
        (8 * 24, {'time_window': '7d'}, False),
    ],
    ids=['23h-default', '25h-default', '2h-1h', '2h-8h', '25h-3d', '8d-7d'],
)
def test_the_job_list_has_the_jobs_that_ended_within_its_time_window(
    age_hours: float,
    query: dict[str, str],
    listed: bool,
    demo_client: TestClient,
    demo_settings: DemoSettings,
    finished_job: str,
) -> None:
    demo_settings.job_age_offset = age_hours * HOUR
    assert (finished_job in _listed(demo_client, demo_settings, **query)) is listed


def test_a_job_older_than_the_window_is_still_found_by_its_id(
    demo_client: TestClient, demo_settings: DemoSettings, finished_job: str
) -> None:
    demo_settings.job_age_offset = 30 * 24 * HOUR
    response = demo_client.get(f'/compute/{demo_settings.system_name}/jobs/{finished_job}')
    assert response.json()['jobs'][0]['status']['state'] == 'COMPLETED'


def test_pending_and_running_jobs_are_listed_whatever_the_window(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    held = _submit(demo_client, demo_settings, '#!/bin/bash\n#SBATCH --hold\ntrue\n')
    running = _submit(demo_client, demo_settings, '#!/bin/bash\nsleep 20\n')
    while _wait(demo_client, demo_settings, running, timeout=0)['status']['state'] != 'RUNNING':
        time.sleep(0.05)
    demo_settings.job_age_offset = 30 * 24 * HOUR
    assert {held, running} <= set(_listed(demo_client, demo_settings, time_window='1h'))


@pytest.mark.parametrize(('age_hours', 'listed'), [(3 * 24, True), (8 * 24, False)], ids=['3 days', '8 days'])
def test_a_server_without_time_window_lists_the_last_7_days_and_ignores_it(
    age_hours: float, listed: bool, demo_client: TestClient, demo_settings: DemoSettings, finished_job: str
) -> None:
    demo_settings.jobs_default_time_window = None
    demo_settings.job_age_offset = age_hours * HOUR
    assert (finished_job in _listed(demo_client, demo_settings)) is listed
    assert (finished_job in _listed(demo_client, demo_settings, time_window='1h')) is listed


@pytest.mark.parametrize(
    ('text', 'seconds'),
    [('5', 300), ('1:30', 90), ('01:00:00', 3600), ('2-0', 172800), ('1-2:3', 93780), ('1-0:0:7', 86407)],
)
def test_time_limit_formats(text: str, seconds: int) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize('text', ['UNLIMITED', 'infinite'])
def test_unlimited_time_limit(text: str) -> None:
    assert parse_time_limit(text) is None


@pytest.mark.parametrize('text', ['soon', '1:2:3:4', ''])
def test_invalid_time_limit_is_an_sbatch_error(text: str) -> None:
    with pytest.raises(SlurmError, match='Invalid --time specification'):
        parse_time_limit(text)


def test_directives_stop_at_the_first_command() -> None:
    script = '#!/bin/bash\n#SBATCH -J name\n# comment\n#SBATCH --time 5 --hold\necho\n#SBATCH -p late\n'
    assert parse_directives(script) == {'job-name': 'name', 'time': '5', 'hold': ''}


def test_dependencies_are_parsed() -> None:
    assert parse_dependencies('afterok:12:13,afterany:14') == [
        ('afterok', 12),
        ('afterok', 13),
        ('afterany', 14),
    ]


def test_malformed_dependency_is_an_sbatch_error() -> None:
    with pytest.raises(SlurmError, match='Job dependency problem'):
        parse_dependencies('afterok:soon')


def test_output_patterns_are_expanded() -> None:
    assert expand_output_path('%x-%j-%u-%%.out', 7, 'job', 'me', '/wd') == '/wd/job-7-me-%.out'
