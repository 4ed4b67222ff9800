"""A FirecREST v1 server fails a submission on any text sbatch writes on stderr, a warning included.

The job was submitted all the same, so such a failure is a submission whose outcome is unknown: the
scheduler's next attempt adopts the job made from the directory, as after a lost answer
(``test_lost_submission.py``), instead of submitting a second one. An ``sbatch: error`` stays an error.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from aiida_firecrest.client_v1 import FirecrestV1Client
from aiida_firecrest.remote_v1 import FirecrestV1Remote, SubmissionOutcomeUnknownError, only_warnings
from aiida_firecrest.settings import TransportConfig

WARNING = "sbatch: warning: can't run 1 processes on 2 nodes, setting nnodes to 1"
ERROR = 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination'


def _server(task_message: str) -> httpx.MockTransport:
    """A v1 server whose submission task ends in status 400 with ``task_message`` (what sbatch wrote)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == '/token':
            return httpx.Response(200, json={'access_token': 'a', 'expires_in': 300, 'token_type': 'Bearer'})
        if request.url.path == '/compute/jobs/path':
            return httpx.Response(201, json={'success': 'Task created', 'task_id': 't1'})
        if request.url.path == '/tasks/t1':
            task = {
                'hash_id': 't1',
                'status': '400',
                'description': 'Finished with errors',
                'data': task_message,
            }
            return httpx.Response(200, content=json.dumps({'task': task}))
        return httpx.Response(404, json={'description': f'unexpected {request.url.path}'})

    return httpx.MockTransport(answer)


def _submit(task_message: str) -> None:
    config = TransportConfig(
        url='http://f', token_uri='http://f/token', client_id='c', client_secret='s',
        compute_resource='daint', temp_directory='/scratch/u/tmp', api_version='1',
    )  # fmt: skip

    async def scenario() -> None:
        client = await FirecrestV1Client.connect(config, _server(task_message))
        try:
            await FirecrestV1Remote(client).submit('/scratch/u/calc', script_path='/scratch/u/calc/job.sh')
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_submission_failed_by_a_warning_may_have_made_the_job() -> None:
    with pytest.raises(SubmissionOutcomeUnknownError, match='the job may exist'):
        _submit(WARNING)


def test_a_submission_failed_by_an_sbatch_error_is_an_error() -> None:
    with pytest.raises(OSError, match='Invalid account') as info:
        _submit(f'{WARNING}\n{ERROR}')
    assert not isinstance(info.value, ConnectionError)  # not adopted: a new attempt submits again


@pytest.mark.parametrize(
    ('message', 'warned_only'),
    [
        (WARNING, True),
        (f'{WARNING}\n{WARNING}', True),
        (ERROR, False),
        (f'{WARNING}\n{ERROR}', False),
        ('', False),
    ],
)
def test_only_sbatch_warnings_count_as_a_possibly_made_job(message: str, warned_only: bool) -> None:
    assert only_warnings(message) is warned_only
