"""Transfer jobs that fail raise the error their log names.

The real server ends a cp, mv or compress transfer job ``COMPLETED`` even when its command failed; the
reason is only in the job's ``errorLog`` (recordings 67 and 69). The client reads that log when, and only
when, the job did not report success, and raises the matching ``OSError`` subclass with the log's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

import httpx
import pytest

from aiida_firecrest.client import FirecrestClient
from aiida_firecrest.errors import transfer_log_reason, translate_errors
from aiida_firecrest.settings import TransportConfig
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport

OUTPUT_LOG = '/home/fireuser/.f7t_file_handling_job_1.log'
ERROR_LOG = '/home/fireuser/.f7t_file_handling_job_error_1.log'
#: Error logs as the real server writes them (recordings 67 and 69), and one for a refused permission.
CP_REASON = "cp: cannot stat '/scratch/fireuser/missing.txt': No such file or directory"
CP_MISSING = f'{CP_REASON}\nSun Nov 22 14:32:26 UTC 2026 Unable to copy files exit code:0 error: \n'
TAR_REASON = 'tar: missing: Cannot stat: No such file or directory'
TAR_MISSING = (
    f'{TAR_REASON}\ntar: Exiting with failure status due to previous errors\n'
    'Sun Nov 22 14:32:29 UTC 2026 Unable to compress files exit code:0 error: \n'
)
MV_REASON = "mv: cannot move '/scratch/fireuser/a' to '/scratch/fireuser/ro/a': Permission denied"
MV_DENIED = f'{MV_REASON}\nSun Nov 22 14:32:29 UTC 2026 Unable to move files exit code:0 error: \n'


class TransferJobServer:
    """A FirecREST double for one transfer job that ends COMPLETED; records the logs viewed."""

    def __init__(self, output_log: str, error_log: str) -> None:
        self.logs = {OUTPUT_LOG: output_log, ERROR_LOG: error_log}
        self.viewed: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == '/token':
            return httpx.Response(200, json={'access_token': 't', 'expires_in': 300})
        if path.startswith('/filesystem/s/transfer/'):
            logs = {'outputLog': OUTPUT_LOG, 'errorLog': ERROR_LOG}
            job = {'jobId': '1', 'system': 's', 'workingDirectory': '/home/fireuser', 'logs': logs}
            return self.answer(201, {'transferJob': job})
        if path == '/compute/s/jobs/1':
            return self.answer(
                200, {'jobs': [{'jobId': '1', 'status': {'state': 'COMPLETED', 'exitCode': 0}}]}
            )
        if path == '/filesystem/s/ops/view':
            self.viewed.append(request.url.params['path'])
            return self.answer(200, {'output': self.logs[request.url.params['path']]})
        return self.answer(404, {'errorType': 'error', 'message': f'unexpected {path}'})

    @staticmethod
    def answer(status: int, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(status, json=body, headers={'f7t-appversion': '2.x.x'})


def run_transfer_job(server: TransferJobServer, operation: str) -> None:
    """Run ``cp`` or ``mv`` of ``/src`` through a client talking to ``server``; errors translated."""
    config = TransportConfig(
        url='http://f', token_uri='http://f/token', client_id='c', client_secret='s',
        compute_resource='s', temp_directory='/tmp',
    )  # fmt: skip

    async def scenario() -> None:
        client = await FirecrestClient.connect(config, httpx.MockTransport(server))
        try:
            with translate_errors('/src'):
                await getattr(client.api, operation)('s', '/src', '/dst')
        finally:
            await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ('error_log', 'expected', 'reason'),
    [
        (CP_MISSING, FileNotFoundError, CP_REASON),
        (TAR_MISSING, FileNotFoundError, TAR_REASON),
        (MV_DENIED, PermissionError, MV_REASON),
        ('', OSError, 'its logs report neither success nor an error'),
    ],
    ids=['cp-missing', 'tar-missing', 'mv-denied', 'empty-log'],
)  # fmt: skip
@pytest.mark.parametrize('operation', ['cp', 'mv'])
def test_a_failed_transfer_job_raises_the_error_of_its_log(
    operation: str, error_log: str, expected: type, reason: str
) -> None:
    server = TransferJobServer('Sun Nov 22 14:32:26 UTC 2026 Copy Files Job (id:1)\n', error_log)
    with pytest.raises(OSError) as info:
        run_transfer_job(server, operation)
    assert type(info.value) is expected
    assert str(info.value) == f"[Errno {info.value.errno}] FirecREST transfer job 1 failed: {reason}: '/src'"
    assert server.viewed == [OUTPUT_LOG, ERROR_LOG]


def test_a_successful_transfer_job_does_not_read_its_error_log() -> None:
    server = TransferJobServer('Copy Files Job (id:1)\nFiles were successfully copied.\n', '')
    run_transfer_job(server, 'cp')
    assert server.viewed == [OUTPUT_LOG]


def test_the_reason_leaves_out_the_job_scripts_own_lines() -> None:
    assert transfer_log_reason(TAR_MISSING) == TAR_REASON


JOB_LOG_READS = {'2': 2, '1': 0}
"""Logs read to learn why a copy or rename failed: v2's transfer job's output, then error log; v1 copies
and renames directly, and its answer says why."""


@pytest.mark.parametrize(
    'operation',
    [
        lambda t, src, dst: t.copyfile_async(src, dst),
        lambda t, src, dst: t.copytree_async(src, dst),
        lambda t, src, dst: t.rename_async(src, dst),
    ],
    ids=['copyfile', 'copytree', 'rename'],
)
def test_copy_or_rename_of_a_missing_source_raises_file_not_found(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    api: str,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    operation: Callable[[FirecrestTransport, PurePosixPath, PurePosixPath], Awaitable[object]],
) -> None:
    source, target = remote_dir / 'missing', remote_dir / 'target'

    async def scenario(t: FirecrestTransport) -> BaseException:
        counted_if_demo()
        with pytest.raises(FileNotFoundError) as info:
            await operation(t, source, target)
        return info.value

    error = with_transport(scenario)
    assert 'No such file or directory' in str(error) and str(source) in str(error)
    requests = counted_if_demo()
    if requests is not None:
        assert requests.get('GET /filesystem/{system_name}/ops/view', 0) == JOB_LOG_READS[api]
    assert not remote_files.exists(target)
