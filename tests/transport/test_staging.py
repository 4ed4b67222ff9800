"""Staged transfers against a scripted FirecREST double: when they start, what they wait for, how they fail.

The double answers like the real server (recordings 22, 71-74): ``ops/download`` refuses a file it cannot
send in one request (413, or 408 after its command timeout), ``transfer/download`` gives a presigned URL at
once whose object appears only when the job has uploaded it. The schedule of an upload's job polls
(:class:`~aiida_firecrest.staging.IngressPolls`) is checked on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiida_firecrest.client import FirecrestClient, JobState
from aiida_firecrest.remote import FirecrestRemote
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.settings import TransportConfig
from aiida_firecrest.staging import INGRESS_CHECK_INTERVAL, MAX_POLL_GAP, IngressPolls, job_script_safe
from aiida_firecrest.transfer import Transfers

OBJECT_URL = 'http://objects.example/bucket/key/data.bin'
ERROR_LOG = '/home/u/.f7t_file_handling_job_error_1.log'
MIB = 1024 * 1024
#: The real server's answers to a direct download too large for it (recordings 22, and issue 11).
REFUSALS = {408: 'Command execution timeout limit exceeded.', 413: 'Command output exceeded buffer limit.'}
DENIED = "dd: failed to open '/scratch/u/data.bin': Permission denied\nerror_generating_part_file 0\n"


class StagingServer:
    """A FirecREST double for one file ``/scratch/u/data.bin`` downloaded in one staged transfer.

    :param direct_status: the answer of ``ops/download`` (200, 408, 413).
    :param object_after: probes of the object answered 404 before it exists (None: never).
    :param job_states: the states successive job polls answer (the last one repeats).
    """

    def __init__(
        self, content: bytes, direct_status: int, object_after: int | None, job_states: list[str]
    ) -> None:
        self.content = content
        self.direct_status = direct_status
        self.object_after = object_after
        self.job_states = job_states
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == 'objects.example':
            return self.object()
        if path == '/token':
            return httpx.Response(200, json={'access_token': 't', 'expires_in': 300})
        self.requests.append(f'{request.method} {path}')
        if path == '/status/systems':
            operation = {'max_ops_file_size': MIB, 'data_transfer': {'serviceType': 's3'}}
            return self.answer(200, {'systems': [{'name': 's', 'dataOperation': operation}]})
        if path == '/filesystem/s/ops/stat':
            return self.answer(200, {'output': {'mode': 0o100644, 'size': len(self.content)}})
        if path == '/filesystem/s/ops/download':
            if self.direct_status == 200:
                return httpx.Response(200, content=self.content)
            message = REFUSALS[self.direct_status]
            return self.answer(self.direct_status, {'errorType': 'error', 'message': message})
        if path == '/filesystem/s/transfer/download':
            logs = {'outputLog': '/home/u/.f7t_file_handling_job_1.log', 'errorLog': ERROR_LOG}
            job = {'jobId': '1', 'system': 's', 'workingDirectory': '/home/u', 'logs': logs}
            return self.answer(201, {'transferJob': job, 'transferDirectives': {'downloadUrl': OBJECT_URL}})
        if path == '/compute/s/jobs/1' and request.method == 'GET':
            state = self.job_states[min(self.polls() - 1, len(self.job_states) - 1)]
            record = {'jobId': '1', 'status': {'state': state}, 'time': {'start': 1, 'elapsed': 1}}
            return self.answer(200, {'jobs': [record]})
        if path == '/filesystem/s/ops/checksum':
            return self.answer(200, {'output': {'checksum': hashlib.sha256(self.content).hexdigest()}})
        if path == '/filesystem/s/ops/view' and request.url.params['path'] == ERROR_LOG:
            return self.answer(200, {'output': DENIED})
        return self.answer(404, {'errorType': 'error', 'message': f'unexpected {request.method} {path}'})

    def object(self) -> httpx.Response:
        if self.object_after is None or self.object_after > 0:
            self.object_after = None if self.object_after is None else self.object_after - 1
            return httpx.Response(404, text='<Error><Code>NoSuchKey</Code></Error>')
        return httpx.Response(200, content=self.content)

    def polls(self) -> int:
        return self.requests.count('GET /compute/s/jobs/1')

    @staticmethod
    def answer(status: int, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(status, json=body, headers={'f7t-appversion': '2.x.x'})


def download(server: StagingServer, target: Path) -> None:
    """``download_file`` of ``/scratch/u/data.bin`` through a client talking to ``server``."""
    config = TransportConfig(
        url='http://f', token_uri='http://f/token', client_id='c', client_secret='s',
        compute_resource='s', temp_directory='/scratch/u/tmp',
    )  # fmt: skip

    async def scenario() -> None:
        clear_server_facts()  # as in a new process: what the server is, is asked
        client = await FirecrestClient.connect(config, httpx.MockTransport(server))
        try:
            transfers = Transfers(FirecrestRemote(client), asyncio.Semaphore(1), logging.getLogger(__name__))
            await transfers.download_file('/scratch/u/data.bin', target)
        finally:
            await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize('status', [408, 413])
def test_a_direct_download_refused_for_its_size_goes_staged(tmp_path: Path, status: int) -> None:
    """The file grew between its ``stat`` and its download: the server's 408 or 413 sends it staged.

    The staged transfer asks the system's description once (per process) for the transfer method.
    """
    server = StagingServer(b'data' * 100, status, object_after=2, job_states=['RUNNING'])
    download(server, tmp_path / 'data.bin')
    assert (tmp_path / 'data.bin').read_bytes() == server.content
    assert server.requests == [
        'GET /filesystem/s/ops/stat',
        'GET /filesystem/s/ops/download',
        'GET /status/systems',
        'POST /filesystem/s/transfer/download',
        'GET /filesystem/s/ops/checksum',
    ]


@pytest.mark.slow
def test_a_staged_download_that_fails_raises_the_error_of_its_job_log(tmp_path: Path) -> None:
    """The object never appears; a rare poll of the job finds it ended, and its error log says why."""
    server = StagingServer(b'x' * (2 * MIB), 200, object_after=None, job_states=['FAILED'])
    with pytest.raises(PermissionError, match='Permission denied'):
        download(server, tmp_path / 'data.bin')
    assert server.polls() == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ('state', 'exit_code', 'succeeded'),
    [
        ('COMPLETED', 0, True),
        ('FAILED', 1, False),
        ('CANCELLED', 0, False),
        ('F', 0, True),  # PBS has one end state; the exit code says how the job went
        ('F', 1, False),
        ('F', -29, False),
        ('RUNNING', 0, False),
    ],
)
def test_a_transfer_job_succeeded_by_its_end_state_and_on_pbs_its_exit_code(
    state: str, exit_code: int, succeeded: bool
) -> None:
    assert JobState(state, 1.0, exit_code).succeeded is succeeded


def test_the_first_poll_of_an_upload_comes_once_the_job_can_have_copied_the_object() -> None:
    polls = IngressPolls(size=200 * 1024 * 1024)
    assert polls.first() == pytest.approx(1.0 + 2.0)


def test_a_job_running_before_the_object_was_complete_is_polled_at_its_next_look() -> None:
    """It looks every 60 s from its start: no poll in between, beyond one every 30 s."""
    polls = IngressPolls(size=0)
    running_since = 5.0  # seconds before the object upload ended
    waited = 1.0
    first = polls.next(waited, running_for=waited + running_since)
    assert first == MAX_POLL_GAP
    waited += first
    second = polls.next(waited, running_for=waited + running_since)
    assert waited + second == pytest.approx(INGRESS_CHECK_INTERVAL - running_since + 1.0)


def test_a_job_not_yet_running_is_polled_with_a_doubling_backoff() -> None:
    polls = IngressPolls(size=0)
    assert [polls.next(1.0, None) for _ in range(7)] == [1, 2, 4, 8, 16, MAX_POLL_GAP, MAX_POLL_GAP]


@pytest.mark.parametrize(
    ('path', 'safe'),
    [
        ('/scratch/u/run-1/aiida.out', True),
        ('/scratch/u/a+b,c=d@e%f:g', True),
        ('/scratch/u/big file', False),
        ('/scratch/u/a&b', False),
        ('/scratch/u/$HOME', False),
        ('/scratch/u/x:~y', False),
        ('/scratch/u/énergie', False),
    ],
)
def test_paths_the_staged_job_scripts_handle(path: str, safe: bool) -> None:
    assert job_script_safe(path) is safe
