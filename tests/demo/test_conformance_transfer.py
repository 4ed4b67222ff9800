"""The demo's transfer endpoints against the recorded real server (exchanges 60-74).

Transfer requests become jobs; each recorded sequence (request, job polls, log views) is replayed
on a fresh in-process demo whose S3 endpoint is moto, running in this process. Where the real
client uploaded to S3 between two exchanges (71, 74), the test does the same with the presigned URLs.
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from aiida_firecrest.demo.settings import MIB, DemoSettings

from ..recordings import require_exchanges
from ._replay import JOB_EXACT_KEYS, Replay

require_exchanges()

EXACT_KEYS = JOB_EXACT_KEYS

SEQUENCES = {
    '60': [],
    '61': [],
    '62': ['60'],
    '63': ['61'],
    '64': [],
    '65': ['64'],
    '66': ['64', '65'],
    '67': [],
    '68': [],
    '69': ['68'],
    '70': ['68'],
    '71': [],
    '72': [],
    '73': [],
    '74': [],
}
"""Recorded file -> the files replayed before it (whose jobs or files it uses)."""


def upload_to_stage(replay: Replay) -> None:
    """What the recorded client did with the last upload's presigned URLs: PUT the parts, then complete."""
    directives = replay.staged['body']['transferDirectives']
    data = os.urandom(replay.staged['request']['transferDirectives']['fileSize'])
    part_size = directives['maxPartSize']
    parts = []
    for number, url in enumerate(directives['partsUploadUrls'], start=1):
        response = httpx.put(url, content=data[(number - 1) * part_size : number * part_size], timeout=30)
        response.raise_for_status()
        parts.append(f'<Part><PartNumber>{number}</PartNumber><ETag>{response.headers["ETag"]}</ETag></Part>')
    body = f'<CompleteMultipartUpload>{"".join(parts)}</CompleteMultipartUpload>'
    httpx.post(directives['completeUploadUrl'], content=body, timeout=30).raise_for_status()


HOOKS: dict[str, dict[int, Callable[[Replay], None]]] = {
    '71': {0: upload_to_stage},
    '74': {2: upload_to_stage},
}
"""Recorded file -> {exchange index: what the client did after that exchange}."""


@pytest.fixture(scope='module')
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint (moto) on a free port of 127.0.0.1."""
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f'http://{host}:{port}'
    server.stop()


@pytest.fixture
def demo_settings(demo_settings: DemoSettings, s3_endpoint: str) -> DemoSettings:
    """A demo staging through moto, with the recordings' sample files."""
    demo_settings.s3_endpoint = s3_endpoint
    demo_settings.ingress_poll_interval = 0.2
    samples = demo_settings.scratch / 'samples-fixed001'
    (samples / 'srcdir' / 'sub').mkdir(parents=True)
    (samples / 'extracted').mkdir()
    (samples / 'src.txt').write_text('source\n')
    (samples / 'srcdir' / 'a.txt').write_text('a\n')
    (samples / 'srcdir' / 'sub' / 'b.txt').write_text('b\n')
    (samples / 'big6m.bin').write_bytes(os.urandom(6 * MIB))
    (demo_settings.home / 'samples-fixed001').mkdir(parents=True)
    return demo_settings


@pytest.mark.parametrize('prefix', list(SEQUENCES))
def test_recorded_sequence_conforms(replay: Replay, prefix: str) -> None:
    for earlier in SEQUENCES[prefix]:
        replay.run(earlier, HOOKS.get(earlier))
    replay.run(prefix, HOOKS.get(prefix))


def test_failed_copy_still_completes(replay: Replay, demo_settings: DemoSettings) -> None:
    replay.run('67')
    (job,) = replay.client.get(
        f'/compute/{demo_settings.system_name}/jobs', params={'name': 'CopyFiles'}
    ).json()['jobs']
    assert job['status'] == {'state': 'COMPLETED', 'stateReason': 'None', 'exitCode': 0, 'interruptSignal': 0}


def test_transfer_jobs_run_on_the_transfer_partition_for_at_most_900_seconds(
    replay: Replay, demo_settings: DemoSettings
) -> None:
    demo_settings.placeholder_record_for = 0  # the job's own record, which names its partition and limit
    replay.run('60')
    (job,) = replay.client.get(
        f'/compute/{demo_settings.system_name}/jobs', params={'name': 'CopyFiles'}
    ).json()['jobs']
    assert (job['partition'], job['time']['limit']) == ('xfer', 900)


def _archive_names(path: Path) -> list[str]:
    with tarfile.open(path) as archive:
        return sorted(archive.getnames())


def test_compress_with_a_pattern_archives_what_ops_compress_archives(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    tree = demo_settings.home / 'tree'
    (tree / 'sub').mkdir(parents=True)
    for name in ('tree/a.txt', 'tree/sub/b.txt', 'tree/c.dat', 'outside.txt'):
        (demo_settings.home / name).write_text(name)
    archives = {kind: demo_settings.scratch / f'{kind}.tar.gz' for kind in ('ops', 'transfer')}
    for kind, archive in archives.items():
        body = {'sourcePath': str(tree), 'targetPath': str(archive), 'matchPattern': r'.*\.txt'}
        response = demo_client.post(f'/filesystem/{demo_settings.system_name}/{kind}/compress', json=body)
        assert response.status_code in {201, 204}, response.text
    job_url = f'/compute/{demo_settings.system_name}/jobs/{response.json()["transferJob"]["jobId"]}'
    deadline = time.monotonic() + 10
    while demo_client.get(job_url).json()['jobs'][0]['status']['state'] != 'COMPLETED':
        assert time.monotonic() < deadline, 'the compress job did not complete'
        time.sleep(0.05)
    expected = ['./outside.txt', './tree/a.txt', './tree/sub/b.txt']
    assert _archive_names(archives['transfer']) == _archive_names(archives['ops']) == expected


def test_staged_download_serves_the_file(replay: Replay, demo_settings: DemoSettings) -> None:
    replay.run('72')
    url = replay.staged['body']['transferDirectives']['downloadUrl']
    data = httpx.get(url, timeout=30).content
    assert data == (demo_settings.scratch / 'samples-fixed001' / 'big6m.bin').read_bytes()
