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
from typing import Any, cast

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
    put_object(directives, os.urandom(replay.staged['request']['transferDirectives']['fileSize']))


def put_object(directives: dict[str, Any], data: bytes) -> None:
    """Upload ``data`` to the presigned part URLs of a staged upload's directives, and complete it."""
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
    assert _finished_job(demo_client, demo_settings, response)['state'] == 'COMPLETED'
    expected = ['./outside.txt', './tree/a.txt', './tree/sub/b.txt']
    assert _archive_names(archives['transfer']) == _archive_names(archives['ops']) == expected


def test_staged_download_serves_the_file(replay: Replay, demo_settings: DemoSettings) -> None:
    replay.run('72')
    url = replay.staged['body']['transferDirectives']['downloadUrl']
    data = httpx.get(url, timeout=30).content
    assert data == (demo_settings.scratch / 'samples-fixed001' / 'big6m.bin').read_bytes()


def _finished_job(client: TestClient, settings: DemoSettings, reply: httpx.Response) -> dict[str, Any]:
    """The status of the transfer job of ``reply`` once it has ended."""
    job_url = f'/compute/{settings.system_name}/jobs/{reply.json()["transferJob"]["jobId"]}'
    deadline = time.monotonic() + 10
    while (status := client.get(job_url).json()['jobs'][0]['status'])['state'] in {'PENDING', 'RUNNING'}:
        assert time.monotonic() < deadline, 'the transfer job did not end'
        time.sleep(0.05)
    return cast('dict[str, Any]', status)


def _link_structure(path: Path) -> tuple[list[str], dict[str, str]]:
    """The regular members of an archive, and its hard links by name with the member they link to."""
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    regular = [member.name for member in members if member.isreg()]
    return regular, {member.name: member.linkname for member in members if member.islnk()}


def test_compress_following_links_stores_a_file_met_again_as_a_hard_link_as_gnu_tar_does(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    """The transfer job runs GNU tar itself; ``ops/compress`` must write the same kind of entries.

    Following links, GNU tar stores the target of a link inside the tree once, and every other occurrence
    of it as a hard link to that first member.
    """
    tree = demo_settings.home / 'tree'
    (tree / 'sub').mkdir(parents=True)
    (tree / 'data.txt').write_text('data')
    (tree / 'sub' / 'relative-link').symlink_to('../data.txt')
    (tree / 'absolute-link').symlink_to(tree / 'data.txt')
    names = {'tree/data.txt', 'tree/sub/relative-link', 'tree/absolute-link'}
    for kind in ('ops', 'transfer'):
        archive = demo_settings.scratch / f'{kind}.tar'
        body = {'sourcePath': str(tree), 'targetPath': str(archive), 'dereference': True}
        body['compression'] = 'none'
        reply = demo_client.post(f'/filesystem/{demo_settings.system_name}/{kind}/compress', json=body)
        assert reply.status_code in {201, 204}, reply.text
        if kind == 'transfer':
            assert _finished_job(demo_client, demo_settings, reply)['state'] == 'COMPLETED'
        (first,), links = _link_structure(archive)
        assert {first, *links} == names, kind
        assert set(links.values()) == {first}, kind


def _staged(
    client: TestClient, settings: DemoSettings, kind: str, path: Path, size: int = 0
) -> httpx.Response:
    """Start a staged upload (of ``size`` bytes) or download of ``path``."""
    directives = {'transferMethod': 's3', **({'fileSize': size} if kind == 'upload' else {})}
    body = {'sourcePath': str(path), 'transferDirectives': directives}
    reply: httpx.Response = client.post(f'/filesystem/{settings.system_name}/transfer/{kind}', json=body)
    assert reply.status_code == 201, reply.text
    return reply


def _logs(reply: httpx.Response) -> tuple[str, str]:
    logs = reply.json()['transferJob']['logs']
    return Path(logs['outputLog']).read_text(), Path(logs['errorLog']).read_text()


@pytest.mark.parametrize('name', ['big file', 'a&b', 'tab\there'])
def test_a_staged_download_job_fails_on_a_name_its_script_leaves_unquoted(
    demo_client: TestClient, demo_settings: DemoSettings, name: str
) -> None:
    """``input_file={{ path }}`` in job_s3_uploader_multipart.sh: the shell splits or cuts the path."""
    (demo_settings.home / name).write_bytes(b'x' * 100)
    reply = _staged(demo_client, demo_settings, 'download', demo_settings.home / name)
    status = _finished_job(demo_client, demo_settings, reply)
    output, error = _logs(reply)
    assert (status['state'], status['exitCode']) == ('FAILED', 34)
    assert error.splitlines()[-1] == 'file_not_found'
    assert 'Uploading file: into 1 chunks' in output


def test_a_staged_upload_job_writes_the_html_escaped_name(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    """job_s3_downloader.sh writes to ``"{{ target_path }}"``, rendered with autoescape (``&amp;``)."""
    directory = demo_settings.home / 'uploads'
    directory.mkdir()
    reply = _staged(demo_client, demo_settings, 'upload', directory / 'a&b c', 10)
    put_object(reply.json()['transferDirectives'], b'0123456789')
    assert _finished_job(demo_client, demo_settings, reply)['state'] == 'COMPLETED'
    assert [path.name for path in directory.iterdir()] == ['a&amp;b c']


@pytest.mark.parametrize('kind', ['cp', 'mv'])
def test_a_copy_or_move_job_writes_the_html_escaped_target(
    demo_client: TestClient, demo_settings: DemoSettings, kind: str
) -> None:
    """job_copy.sh and job_move.sh render ``'{{ target_path }}'`` with autoescape, as the upload job."""
    directory = demo_settings.home / f'{kind}-jobs'
    directory.mkdir()
    (directory / 'source').write_text('data')
    body = {'sourcePath': str(directory / 'source'), 'targetPath': str(directory / 'a&b "c"')}
    reply = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/{kind}', json=body)
    assert reply.status_code == 201, reply.text
    assert _finished_job(demo_client, demo_settings, reply)['state'] == 'COMPLETED'
    assert 'a&amp;b &#34;c&#34;' in [path.name for path in directory.iterdir()]


def test_a_copy_job_of_an_html_escaped_source_finds_nothing_and_still_completes(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    (demo_settings.home / 'a&b').write_text('data')
    target = demo_settings.home / 'copy'
    body = {'sourcePath': str(demo_settings.home / 'a&b'), 'targetPath': str(target)}
    reply = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/cp', json=body)
    assert _finished_job(demo_client, demo_settings, reply)['state'] == 'COMPLETED'
    assert 'a&amp;b' in _logs(reply)[1]
    assert not target.exists()


def test_a_staged_upload_into_a_missing_directory_still_completes(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    """The real job's shell reports the failed write and goes on to report success (exit 0)."""
    target = demo_settings.home / 'missing' / 'f'
    reply = _staged(demo_client, demo_settings, 'upload', target, 10)
    put_object(reply.json()['transferDirectives'], b'0123456789')
    assert _finished_job(demo_client, demo_settings, reply)['state'] == 'COMPLETED'
    output, error = _logs(reply)
    assert 'File was successfully downloaded' in output
    assert f'{target}: No such file or directory' in error
    assert not target.parent.exists()
