"""pyfirecrest's v2 clients, sync ``Firecrest`` and async ``AsyncFirecrest``, against a launched demo server.

Every endpoint family is driven through pyfirecrest's public methods, so that a client which works
here works against a real FirecREST; the staged (S3) path is forced for a 12 MiB file, which must
come back byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import firecrest
import pytest
from firecrest.FirecrestException import MultipartUploadException, TransferJobFailedException
from firecrest.v2 import AsyncFirecrest, Firecrest

from aiida_firecrest.demo.launcher import DemoServer
from aiida_firecrest.demo.settings import MIB

CALL_TIMEOUT = 120.0
STAGED_THRESHOLD = MIB
"""``MAX_DIRECT_UPLOAD_SIZE`` of the clients under test: larger files take the staged (S3) path."""

Call = Callable[..., Any]
"""``call('method', *args)``: a pyfirecrest method called on the sync or the async client."""


@pytest.fixture(scope='module')
def demo_server(demo_server_version: str) -> Iterator[DemoServer]:
    with DemoServer(server_version=demo_server_version, ingress_poll_interval=0.1) as server:
        yield server


@pytest.fixture(scope='module')
def client_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread, where the async client lives for the whole module."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def _auth(config: dict[str, Any]) -> firecrest.ClientCredentialsAuth:
    return firecrest.ClientCredentialsAuth(config['client_id'], config['client_secret'], config['token_uri'])


@pytest.fixture(scope='module', params=['sync', 'async'])
def call(
    request: pytest.FixtureRequest, demo_server: DemoServer, client_loop: asyncio.AbstractEventLoop
) -> Call:
    """A pyfirecrest method caller: the sync client, then the async one in ``client_loop``."""
    config = demo_server.config
    if request.param == 'sync':
        client = Firecrest(firecrest_url=config['url'], authorization=_auth(config))
        client.MAX_DIRECT_UPLOAD_SIZE = STAGED_THRESHOLD
        return lambda method, *args, **kwargs: getattr(client, method)(*args, **kwargs)
    async_client = AsyncFirecrest(firecrest_url=config['url'], authorization=_auth(config))
    async_client.MAX_DIRECT_UPLOAD_SIZE = STAGED_THRESHOLD

    def call_async(method: str, *args: Any, **kwargs: Any) -> Any:
        coroutine = getattr(async_client, method)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coroutine, client_loop).result(timeout=CALL_TIMEOUT)

    return call_async


@pytest.fixture
def system_name(demo_server: DemoServer) -> str:
    return str(demo_server.config['compute_resource'])


@pytest.fixture
def workdir(demo_server: DemoServer, request: pytest.FixtureRequest) -> Path:
    """A fresh directory on the server for this test (the server runs on this machine)."""
    path = Path(demo_server.config['workdir']) / re.sub(r'\W+', '-', request.node.name)
    path.mkdir()
    return path


def test_status_endpoints_describe_the_system(call: Call, system_name: str, demo_server: DemoServer) -> None:
    (system,) = call('systems')
    assert system['name'] == system_name
    assert call('userinfo', system_name)['user']['name'] == demo_server.settings.username
    assert {partition['name'] for partition in call('partitions', system_name)} == {'normal', 'xfer'}
    assert len(call('nodes', system_name)) == 1
    assert call('reservations', system_name) == []


def test_file_operations_round_trip(call: Call, system_name: str, workdir: Path, tmp_path: Path) -> None:
    local = tmp_path / 'small.txt'
    local.write_text('one\ntwo\nthree\n')
    sub = str(workdir / 'sub')
    call('mkdir', system_name, sub)
    call('upload', system_name, local, sub, 'small.txt')
    path = f'{sub}/small.txt'
    assert [entry['name'] for entry in call('list_files', system_name, sub)] == ['small.txt']
    assert call('stat', system_name, path)['size'] == local.stat().st_size
    assert call('view', system_name, path) == local.read_text()
    assert call('head', system_name, path, num_lines=1)['content'] == 'one\n'
    assert call('tail', system_name, path, num_lines=1)['content'] == 'three\n'
    assert call('checksum', system_name, path)['checksum'] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert call('file_type', system_name, path) == 'ASCII text'
    assert call('chmod', system_name, path, '600')['permissions'] == 'rw-------'
    call('symlink', system_name, path, f'{sub}/link')
    call('download', system_name, f'{sub}/link', tmp_path / 'back.txt')
    assert (tmp_path / 'back.txt').read_bytes() == local.read_bytes()
    call('rm', system_name, sub)
    assert call('list_files', system_name, str(workdir)) == []


def test_archive_round_trip(call: Call, system_name: str, workdir: Path) -> None:
    (workdir / 'tree' / 'deep').mkdir(parents=True)
    (workdir / 'tree' / 'deep' / 'leaf.txt').write_text('leaf\n')
    archive = str(workdir / 'tree.tar.gz')
    call('compress', system_name, str(workdir / 'tree'), archive)
    (workdir / 'out').mkdir()
    call('extract', system_name, archive, str(workdir / 'out'))
    assert (workdir / 'out' / 'tree' / 'deep' / 'leaf.txt').read_text() == 'leaf\n'


def test_staged_transfer_of_12_mib_round_trips(
    call: Call, system_name: str, workdir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if request.getfixturevalue('demo_server_version') == '2.2.8':
        # 2.2.8 names the URL completeUploadUrl; pyfirecrest 3.10 reads completeMultipartUploadUrl there.
        reason = "pyfirecrest 3.10 cannot finish a staged upload to FirecREST 2.2.8 (the plugin's client can)"
        request.applymarker(pytest.mark.xfail(raises=MultipartUploadException, strict=True, reason=reason))
    data = os.urandom(12 * MIB)
    (tmp_path / 'big.bin').write_bytes(data)
    call('upload', system_name, tmp_path / 'big.bin', str(workdir), 'big.bin')
    assert (workdir / 'big.bin').read_bytes() == data
    call('download', system_name, str(workdir / 'big.bin'), tmp_path / 'back.bin')
    assert (tmp_path / 'back.bin').read_bytes() == data


def test_transfer_jobs_copy_and_move(call: Call, system_name: str, workdir: Path) -> None:
    (workdir / 'a.txt').write_text('a\n')
    copied = call('cp', system_name, str(workdir / 'a.txt'), str(workdir / 'b.txt'))
    call('mv', system_name, str(workdir / 'b.txt'), str(workdir / 'c.txt'))
    assert sorted(path.name for path in workdir.iterdir()) == ['a.txt', 'c.txt']
    (job,) = call('job_info', system_name, copied['transferJob']['jobId'])
    assert job['status']['state'] == 'COMPLETED'  # its name may still be Slurm's placeholder 'allocation'


def test_failed_transfer_job_is_reported(call: Call, system_name: str, workdir: Path) -> None:
    with pytest.raises(TransferJobFailedException):
        call('cp', system_name, str(workdir / 'missing'), str(workdir / 'copy'))


def test_job_runs_to_completion(call: Call, system_name: str, workdir: Path) -> None:
    script = '#!/bin/bash\n#SBATCH --job-name=pyfirecrest-job\necho "out $GREETING"\n'
    job_id = call('submit', system_name, str(workdir), script_str=script, env_vars={'GREETING': 'hi'})[
        'jobId'
    ]
    (job,) = call('wait_for_job', system_name, job_id)
    assert job['status']['state'] == 'COMPLETED'  # its name may still be Slurm's placeholder 'allocation'
    assert job_id in [listed['jobId'] for listed in call('job_info', system_name)]
    (metadata,) = call('job_metadata', system_name, job_id)
    assert call('view', system_name, metadata['standardOutput']) == 'out hi\n'


def test_attach_and_cancel_a_running_job(call: Call, system_name: str, workdir: Path) -> None:
    job_id = call('submit', system_name, str(workdir), script_str='#!/bin/bash\nsleep 30\n')['jobId']
    while call('job_info', system_name, job_id)[0]['status']['state'] != 'RUNNING':
        time.sleep(0.05)
    call('attach_to_job', system_name, job_id, f'echo attached > {workdir}/attach.out')
    call('cancel_job', system_name, job_id)
    (job,) = call('wait_for_job', system_name, job_id)
    assert job['status']['state'].startswith('CANCELLED by ')
    assert (workdir / 'attach.out').read_text() == 'attached\n'
