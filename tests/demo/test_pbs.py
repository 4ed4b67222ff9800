"""The demo's PBS system answers as a real FirecREST v2 does for OpenPBS (no PBS recording exists).

What a real server does is read from its source (eth-cscs/firecrest-v2 at 35e1d08: the PBS scheduler
client, its qsub/qstat/qdel commands and the ``PbsJob`` model): the system's description, the job
records rendered from ``qstat -f -F json -x``, and the errors (a 500 with the PBS command's stderr).
"""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.pbs import PbsError, parse_pbs_dependencies, parse_pbs_directives, parse_walltime
from aiida_firecrest.demo.settings import DemoSettings

RECORD_KEYS = {
    'jobId',
    'name',
    'status',
    'tasks',
    'time',
    'account',
    'allocationNodes',
    'cluster',
    'group',
    'nodes',
    'partition',
    'killRequestUser',
    'user',
    'workingDirectory',
    'priority',
}
"""The keys of the real server's ``JobModel``, which it renders PBS jobs with."""


@pytest.fixture
def demo_settings(demo_settings: DemoSettings) -> DemoSettings:
    """The demo of ``tests/demo`` with a PBS system."""
    return DemoSettings(
        root=demo_settings.root,
        scheduler='pbs',
        s3_endpoint=demo_settings.s3_endpoint,
        command_timeout=demo_settings.command_timeout,
    )


def _jobs_url(settings: DemoSettings) -> str:
    return f'/compute/{settings.system_name}/jobs'


def _submit(client: TestClient, settings: DemoSettings, script: str, **fields: object) -> str:
    job = {'script': script, 'working_directory': str(settings.scratch), **fields}
    response = client.post(_jobs_url(settings), json={'job': job})
    assert response.status_code == 201, response.text
    return cast(str, response.json()['jobId'])


def _job(client: TestClient, settings: DemoSettings, job_id: str) -> dict[str, Any]:
    return cast('dict[str, Any]', client.get(f'{_jobs_url(settings)}/{job_id}').json()['jobs'][0])


def _wait(
    client: TestClient, settings: DemoSettings, job_id: str, states: set[str], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = _job(client, settings, job_id)
        if job['status']['state'] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()['message']


# --- the system ---


def test_the_system_is_named_and_described_as_a_pbs_one(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    (system,) = demo_client.get('/status/systems').json()['systems']
    assert (system['name'], system['scheduler']['type'], system['scheduler']['version']) == (
        'cluster-pbs',
        'pbs',
        '23.06.06',
    )
    directives = system['dataOperation']['datatransfer_jobs_directives']
    assert all(line.startswith('#PBS ') for line in directives)


def test_the_queues_are_the_partitions(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    answer = demo_client.get(f'/status/{demo_settings.system_name}/partitions').json()
    assert answer == {'partitions': [{'name': 'workq', 'cpus': None, 'totalNodes': None, 'partition': 'UP'}]}


# --- records ---


def test_a_finished_job_has_the_real_records_shape(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\n#PBS -N shape\ntrue\n')
    job = _wait(demo_client, demo_settings, job_id, {'F'})
    assert set(job) == RECORD_KEYS
    assert job['status'] == {'state': 'F', 'stateReason': None, 'exitCode': 0, 'interruptSignal': None}
    assert (job['name'], job['tasks'], job['group'], job['partition'], job['account']) == (
        'shape',
        None,
        None,
        'workq',
        '_pbs_project_default',
    )
    assert (job['time']['end'], job['time']['suspended'], job['time']['limit']) == (None, None, None)
    assert job['workingDirectory'] == str(demo_settings.scratch)


def test_a_queued_job_has_no_nodes_and_no_start(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    job = _job(demo_client, demo_settings, _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n'))
    assert (job['status']['state'], job['nodes'], job['time']['start']) == ('Q', 'None assigned', None)


def test_a_failing_job_finishes_with_its_exit_status(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\nexit 3\n')
    assert _wait(demo_client, demo_settings, job_id, {'F'})['status']['exitCode'] == 3


def test_the_account_is_the_submitted_project(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n', account='myproject')
    assert _job(demo_client, demo_settings, job_id)['account'] == 'myproject'


def test_a_job_over_its_walltime_is_killed_with_pbs_exit_status_and_message(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    script = '#!/bin/bash\n#PBS -N long\n#PBS -l walltime=00:00:01\nsleep 20\n'
    job_id = _submit(demo_client, demo_settings, script)
    job = _wait(demo_client, demo_settings, job_id, {'F'})
    assert (job['status']['exitCode'], job['time']['limit']) == (-29, 1)
    stderr = (demo_settings.scratch / f'long.e{job_id}').read_text()
    assert stderr.startswith('=>> PBS: job killed: walltime 1 exceeded limit 1')


def test_a_held_job_is_h_and_deleting_it_finishes_it_without_exit_status(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\n#PBS -h\ntrue\n')
    time.sleep(0.5)
    assert _job(demo_client, demo_settings, job_id)['status']['state'] == 'H'
    assert demo_client.delete(f'{_jobs_url(demo_settings)}/{job_id}').status_code == 204
    assert _job(demo_client, demo_settings, job_id)['status'] == {
        'state': 'F',
        'stateReason': None,
        'exitCode': 0,
        'interruptSignal': None,
    }


def test_deleting_a_running_job_ends_it_by_sigterm(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\nsleep 20\n')
    _wait(demo_client, demo_settings, job_id, {'R'})
    assert demo_client.delete(f'{_jobs_url(demo_settings)}/{job_id}').status_code == 204
    assert _job(demo_client, demo_settings, job_id)['status']['exitCode'] == 256 + 15


def test_a_job_waiting_for_its_dependency_is_held(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    first = _submit(demo_client, demo_settings, '#!/bin/bash\nsleep 1\n')
    second = _submit(demo_client, demo_settings, f'#!/bin/bash\n#PBS -W depend=afterok:{first}.pbs\ntrue\n')
    time.sleep(0.5)
    assert _job(demo_client, demo_settings, second)['status']['state'] == 'H'
    assert _wait(demo_client, demo_settings, second, {'F'})['status']['exitCode'] == 0


# --- how a job runs ---


def test_a_job_runs_in_the_home_directory_with_pbs_variables(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    script = '#!/bin/bash\n#PBS -N env-check\necho "$PWD $PBS_O_WORKDIR $PBS_JOBNAME $PBS_JOBID $GREETING"\n'
    job_id = _submit(demo_client, demo_settings, script, env={'GREETING': 'hello'})
    _wait(demo_client, demo_settings, job_id, {'F'})
    output = (demo_settings.scratch / f'env-check.o{job_id}').read_text().split()
    assert output[:3] == [str(demo_settings.home), str(demo_settings.scratch), 'env-check']
    assert (output[3].split('.')[0], output[4]) == (job_id, 'hello')


def test_a_script_on_stdin_is_named_stdin_and_writes_pbs_default_outputs(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\necho out\necho err >&2\n')
    job = _wait(demo_client, demo_settings, job_id, {'F'})
    assert job['name'] == 'STDIN'
    assert (demo_settings.scratch / f'STDIN.o{job_id}').read_text() == 'out\n'
    assert (demo_settings.scratch / f'STDIN.e{job_id}').read_text() == 'err\n'


def test_joined_output_goes_to_the_named_file(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    script = '#!/bin/bash\n#PBS -o joined.txt\n#PBS -j oe\necho out\necho err >&2\n'
    _wait(demo_client, demo_settings, _submit(demo_client, demo_settings, script), {'F'})
    assert (demo_settings.scratch / 'joined.txt').read_text() == 'out\nerr\n'


def test_a_script_path_submission_is_named_after_the_file(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    (demo_settings.scratch / 'job.sh').write_text('#!/bin/bash\necho from-file\n')
    body = {
        'job': {
            'scriptPath': str(demo_settings.scratch / 'job.sh'),
            'workingDirectory': str(demo_settings.scratch),
        }
    }
    job_id = demo_client.post(_jobs_url(demo_settings), json=body).json()['jobId']
    assert _wait(demo_client, demo_settings, job_id, {'F'})['name'] == 'job.sh'
    assert (demo_settings.scratch / f'job.sh.o{job_id}').read_text() == 'from-file\n'


def test_metadata_has_no_script_and_the_output_paths_swapped_as_on_the_real_server(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\n#PBS -o out.txt\n#PBS -e err.txt\ntrue\n')
    (metadata,) = demo_client.get(f'{_jobs_url(demo_settings)}/{job_id}/metadata').json()['jobs']
    assert metadata == {
        'jobId': job_id,
        'script': None,
        'standardInput': None,
        'standardOutput': str(demo_settings.scratch / 'err.txt'),
        'standardError': str(demo_settings.scratch / 'out.txt'),
    }


# --- errors ---


def test_an_unknown_job_is_a_500_with_qstats_message(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    status, message = _error(demo_client.get(f'{_jobs_url(demo_settings)}/99'))
    assert status == 500
    assert message.startswith(
        'Unexpected PBS qstat response. exit_status:153 std_err:qstat: Unknown Job Id 99.'
    )


def test_deleting_a_finished_job_is_refused_by_qdel(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\ntrue\n')
    _wait(demo_client, demo_settings, job_id, {'F'})
    status, message = _error(demo_client.delete(f'{_jobs_url(demo_settings)}/{job_id}'))
    assert (status, message.split(' std_err:')[1].split()[:4]) == (500, ['qdel:', 'Job', 'has', 'finished'])


@pytest.mark.parametrize(
    ('fields', 'message'),
    [
        ({'script': '#PBS -q nowhere\ntrue\n'}, 'exit_status:170 std_err:qsub: Unknown queue\n stdout:'),
        ({'working_directory': '/no/such/dir'}, 'cd: /no/such/dir: No such file or directory'),
        ({'script': None, 'script_path': '/no/such/job.sh'}, 'qsub: script file:: No such file or directory'),
    ],
)
def test_a_refused_submission_is_a_500_with_qsubs_message(
    demo_client: TestClient, demo_settings: DemoSettings, fields: dict[str, Any], message: str
) -> None:
    job = {'script': '#!/bin/bash\ntrue\n', 'working_directory': str(demo_settings.scratch), **fields}
    status, text = _error(demo_client.post(_jobs_url(demo_settings), json={'job': job}))
    assert (status, text.startswith('Unexpected PBS command response.'), message in text) == (500, True, True)


def test_attach_is_not_supported(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    job_id = _submit(demo_client, demo_settings, '#!/bin/bash\nsleep 5\n')
    response = demo_client.put(f'{_jobs_url(demo_settings)}/{job_id}/attach', json={'command': 'true'})
    assert _error(response) == (500, "('Interactive attach is not supported in PBS CLI client',)")


# --- qsub's reading of a script ---


def test_directives_stop_at_the_first_command() -> None:
    script = '#!/bin/bash\n#PBS -N name\n# comment\n\n#PBS -l walltime=5 -h\necho\n#PBS -q late\n'
    assert parse_pbs_directives(script) == [('N', 'name'), ('l', 'walltime=5'), ('h', '')]


@pytest.mark.parametrize(('text', 'seconds'), [('5', 5), ('1:30', 90), ('01:00:00', 3600), ('0:0:7.5', 7)])
def test_walltime_formats(text: str, seconds: int) -> None:
    assert parse_walltime(text) == seconds


def test_an_invalid_walltime_is_refused() -> None:
    with pytest.raises(PbsError, match=r'Resource_List\.walltime'):
        parse_walltime('soon')


def test_dependencies_name_jobs_with_or_without_the_server() -> None:
    assert parse_pbs_dependencies('afterok:12.pbs:13,afterany:14') == [
        ('afterok', 12),
        ('afterok', 13),
        ('afterany', 14),
    ]
