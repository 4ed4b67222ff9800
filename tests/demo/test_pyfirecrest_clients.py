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
from firecrest.FirecrestException import TransferJobFailedException
from firecrest.v2 import AsyncFirecrest, Firecrest

from aiida_firecrest.demo.launcher import DemoServer
from aiida_firecrest.demo.settings import MIB

CALL_TIMEOUT = 120.0
STAGED_THRESHOLD = MIB
"""``MAX_DIRECT_UPLOAD_SIZE`` of the clients under test: larger files take the staged (S3) path."""

Call = Callable[..., Any]
"""``call('method', *args)``: a pyfirecrest method called on the sync or the async client."""


@pytest.fixture(scope='module')
def h2_server() -> Iterator[DemoServer]:
    with DemoServer(ingress_poll_interval=0.1) as server:
        yield server


@pytest.fixture(scope='module')
def h2_loop() -> Iterator[asyncio.AbstractEventLoop]:
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
def h2_call(
    request: pytest.FixtureRequest, h2_server: DemoServer, h2_loop: asyncio.AbstractEventLoop
) -> Call:
    config = h2_server.config
    if request.param == 'sync':
        client = Firecrest(firecrest_url=config['url'], authorization=_auth(config))
        client.MAX_DIRECT_UPLOAD_SIZE = STAGED_THRESHOLD
        return lambda method, *args, **kwargs: getattr(client, method)(*args, **kwargs)
    async_client = AsyncFirecrest(firecrest_url=config['url'], authorization=_auth(config))
    async_client.MAX_DIRECT_UPLOAD_SIZE = STAGED_THRESHOLD

    def call(method: str, *args: Any, **kwargs: Any) -> Any:
        coroutine = getattr(async_client, method)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coroutine, h2_loop).result(timeout=CALL_TIMEOUT)

    return call


@pytest.fixture
def h2_system(h2_server: DemoServer) -> str:
    return h2_server.config['compute_resource']


@pytest.fixture
def h2_remote(h2_server: DemoServer, request: pytest.FixtureRequest) -> Path:
    """A fresh directory on the server for this test (the server runs on this machine)."""
    path = Path(h2_server.config['workdir']) / re.sub(r'\W+', '-', request.node.name)
    path.mkdir()
    return path


def test_status_endpoints_describe_the_system(h2_call: Call, h2_system: str, h2_server: DemoServer) -> None:
    (system,) = h2_call('systems')
    assert system['name'] == h2_system
    assert h2_call('userinfo', h2_system)['user']['name'] == h2_server.settings.username
    assert {partition['name'] for partition in h2_call('partitions', h2_system)} == {'normal', 'xfer'}
    assert len(h2_call('nodes', h2_system)) == 1
    assert h2_call('reservations', h2_system) == []


def test_file_operations_round_trip(h2_call: Call, h2_system: str, h2_remote: Path, tmp_path: Path) -> None:
    local = tmp_path / 'small.txt'
    local.write_text('one\ntwo\nthree\n')
    remote = str(h2_remote / 'sub')
    h2_call('mkdir', h2_system, remote)
    h2_call('upload', h2_system, local, remote, 'small.txt')
    path = f'{remote}/small.txt'
    assert [entry['name'] for entry in h2_call('list_files', h2_system, remote)] == ['small.txt']
    assert h2_call('stat', h2_system, path)['size'] == local.stat().st_size
    assert h2_call('view', h2_system, path) == local.read_text()
    assert h2_call('head', h2_system, path, num_lines=1)['content'] == 'one\n'
    assert h2_call('tail', h2_system, path, num_lines=1)['content'] == 'three\n'
    assert h2_call('checksum', h2_system, path)['checksum'] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert h2_call('file_type', h2_system, path) == 'ASCII text'
    assert h2_call('chmod', h2_system, path, '600')['permissions'] == 'rw-------'
    h2_call('symlink', h2_system, path, f'{remote}/link')
    h2_call('download', h2_system, f'{remote}/link', tmp_path / 'back.txt')
    assert (tmp_path / 'back.txt').read_bytes() == local.read_bytes()
    h2_call('rm', h2_system, remote)
    assert h2_call('list_files', h2_system, str(h2_remote)) == []


def test_archive_round_trip(h2_call: Call, h2_system: str, h2_remote: Path) -> None:
    (h2_remote / 'tree' / 'deep').mkdir(parents=True)
    (h2_remote / 'tree' / 'deep' / 'leaf.txt').write_text('leaf\n')
    archive = str(h2_remote / 'tree.tar.gz')
    h2_call('compress', h2_system, str(h2_remote / 'tree'), archive)
    (h2_remote / 'out').mkdir()
    h2_call('extract', h2_system, archive, str(h2_remote / 'out'))
    assert (h2_remote / 'out' / 'tree' / 'deep' / 'leaf.txt').read_text() == 'leaf\n'


def test_staged_transfer_of_12_mib_round_trips(
    h2_call: Call, h2_system: str, h2_remote: Path, tmp_path: Path
) -> None:
    data = os.urandom(12 * MIB)
    (tmp_path / 'big.bin').write_bytes(data)
    h2_call('upload', h2_system, tmp_path / 'big.bin', str(h2_remote), 'big.bin')
    assert (h2_remote / 'big.bin').read_bytes() == data
    h2_call('download', h2_system, str(h2_remote / 'big.bin'), tmp_path / 'back.bin')
    assert (tmp_path / 'back.bin').read_bytes() == data


def test_transfer_jobs_copy_and_move(h2_call: Call, h2_system: str, h2_remote: Path) -> None:
    (h2_remote / 'a.txt').write_text('a\n')
    copied = h2_call('cp', h2_system, str(h2_remote / 'a.txt'), str(h2_remote / 'b.txt'))
    h2_call('mv', h2_system, str(h2_remote / 'b.txt'), str(h2_remote / 'c.txt'))
    assert sorted(path.name for path in h2_remote.iterdir()) == ['a.txt', 'c.txt']
    (job,) = h2_call('job_info', h2_system, copied['transferJob']['jobId'])
    assert (job['name'], job['status']['state'], job['partition']) == ('CopyFiles', 'COMPLETED', 'xfer')


def test_failed_transfer_job_is_reported(h2_call: Call, h2_system: str, h2_remote: Path) -> None:
    with pytest.raises(TransferJobFailedException):
        h2_call('cp', h2_system, str(h2_remote / 'missing'), str(h2_remote / 'copy'))


def test_job_runs_to_completion(h2_call: Call, h2_system: str, h2_remote: Path) -> None:
    script = '#!/bin/bash\n#SBATCH --job-name=pyfirecrest-job\necho "out $GREETING"\n'
    job_id = h2_call('submit', h2_system, str(h2_remote), script_str=script, env_vars={'GREETING': 'hi'})[
        'jobId'
    ]
    (job,) = h2_call('wait_for_job', h2_system, job_id)
    assert (job['name'], job['status']['state']) == ('pyfirecrest-job', 'COMPLETED')
    assert job_id in [listed['jobId'] for listed in h2_call('job_info', h2_system)]
    (metadata,) = h2_call('job_metadata', h2_system, job_id)
    assert h2_call('view', h2_system, metadata['standardOutput']) == 'out hi\n'


def test_attach_and_cancel_a_running_job(h2_call: Call, h2_system: str, h2_remote: Path) -> None:
    job_id = h2_call('submit', h2_system, str(h2_remote), script_str='#!/bin/bash\nsleep 30\n')['jobId']
    while h2_call('job_info', h2_system, job_id)[0]['status']['state'] != 'RUNNING':
        time.sleep(0.05)
    h2_call('attach_to_job', h2_system, job_id, f'echo attached > {h2_remote}/attach.out')
    h2_call('cancel_job', h2_system, job_id)
    (job,) = h2_call('wait_for_job', h2_system, job_id)
    assert job['status']['state'].startswith('CANCELLED by ')
    assert (h2_remote / 'attach.out').read_text() == 'attached\n'
