"""The demo answers as the FirecREST release of ``DemoSettings.server_version`` (see ``demo/versions.py``).

Each test sets the release by parametrizing ``demo_release`` (the fixture the demo's settings come from),
so that every release is checked whatever ``--firecrest-server-version`` the session runs with.
"""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings
from aiida_firecrest.demo.versions import VERSIONS, staged_transfer_answer

NOT_AVAILABLE = 'Requested transfer method is not available.'
LATER_THAN_2_5 = ['2.5.6', '2.6', '2.x.x']


@pytest.mark.parametrize(
    ('demo_release', 'header'),
    [('2.2.8', '2.2.8'), ('2.4.2', '2.4.2'), ('2.5.6', '2.5.6'), ('2.6', '2.6.0'), ('2.x.x', '2.x.x')],
)
def test_a_release_names_itself_in_the_app_version_header(anonymous_client: TestClient, header: str) -> None:
    assert anonymous_client.get('/status/liveness/').headers['f7t-appversion'] == header


def test_an_answer_carries_the_tracing_ids_of_the_request(demo_client: TestClient) -> None:
    sent = {'X-Request-ID': str(uuid.uuid4()), 'X-Correlation-ID': str(uuid.uuid4())}
    response = demo_client.get('/status/systems', headers=sent)
    assert {name: response.headers.get(name) for name in sent} == sent


def test_an_answer_to_a_request_without_tracing_ids_carries_new_ones(demo_client: TestClient) -> None:
    response = demo_client.get('/status/systems')
    ids = [uuid.UUID(response.headers[name]) for name in ('X-Request-ID', 'X-Correlation-ID')]
    assert ids[0] != ids[1]


def test_a_tracing_id_that_is_not_a_uuid_gets_an_empty_400(anonymous_client: TestClient) -> None:
    response = anonymous_client.get('/status/liveness/', headers={'X-Correlation-ID': 'my-workflow-1234'})
    assert (response.status_code, response.content) == (400, b'')


@pytest.mark.parametrize(
    ('demo_release', 'fields'),
    [
        ('2.2.8', ['group', 'groups', 'user']),
        ('2.4.2', ['group', 'groups', 'user']),
        ('2.5.6', ['accounts', 'group', 'groups', 'user']),
        ('2.6', ['accounts', 'groups', 'user']),
        ('2.x.x', ['accounts', 'group', 'groups', 'user']),
    ],
)
def test_userinfo_has_the_fields_of_its_release(
    demo_client: TestClient, demo_settings: DemoSettings, fields: list[str]
) -> None:
    assert sorted(demo_client.get(f'/status/{demo_settings.system_name}/userinfo').json()) == fields


@pytest.mark.parametrize('demo_release', ['2.6'])
def test_userinfo_of_2_6_marks_the_primary_group_as_default(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    groups = demo_client.get(f'/status/{demo_settings.system_name}/userinfo').json()['groups']
    assert groups == [{'id': str(demo_settings.gid), 'name': demo_settings.group, 'default': True}]


@pytest.mark.parametrize(
    ('demo_release', 'where'),
    [
        ('2.2.8', ('storage',)),
        ('2.4.2', ('dataOperation',)),
        ('2.5.6', ('systems', 0, 'dataOperation')),
        ('2.6', ('systems', 0, 'dataOperation')),
    ],
)
def test_the_direct_transfer_limit_is_published_where_the_release_puts_it(
    demo_client: TestClient, demo_settings: DemoSettings, where: tuple[Any, ...]
) -> None:
    answer = demo_client.get('/status/systems').json()
    for key in where:
        answer = answer[key]
    assert answer['max_ops_file_size'] == demo_settings.max_ops_file_size


@pytest.mark.parametrize('demo_release', LATER_THAN_2_5)
def test_a_streamer_system_publishes_its_method(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    demo_settings.transfer_method = 'streamer'
    (system,) = demo_client.get('/status/systems').json()['systems']
    assert system['dataOperation']['data_transfer']['serviceType'] == 'streamer'


def test_a_release_before_2_4_1_cannot_offer_the_streamer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"FirecREST 2\.2\.8 offers no 'streamer' transfer method"):
        DemoSettings.for_release('2.2.8', root=tmp_path, transfer_method='streamer')


def test_an_unknown_release_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r'unknown FirecREST server version .2\.3.; choose one of 2\.2\.8, '):
        DemoSettings.for_release('2.3', root=tmp_path)


@pytest.mark.parametrize(
    ('release', 'window'),
    [('2.2.8', None), ('2.4.2', None), ('2.5.6', None), ('2.6', '24h'), ('2.x.x', '24h')],
)
def test_a_release_sets_the_default_time_window_of_the_job_list(
    release: str, window: str | None, tmp_path: Path
) -> None:
    assert DemoSettings.for_release(release, root=tmp_path).jobs_default_time_window == window


RECORDED_UPLOAD_ANSWER = {
    'transferJob': {'jobId': '29', 'system': 'cluster', 'workingDirectory': '/home/u', 'logs': {}},
    'transferDirectives': {
        'transferMethod': 's3',
        'partsUploadUrls': ['part-1'],
        'completeUploadUrl': 'complete',
        'maxPartSize': 1024,
    },
}


@pytest.mark.parametrize(
    ('release', 'expected'),
    [
        (
            '2.2.8',
            {
                'partsUploadUrls': ['part-1'],
                'completeUploadUrl': 'complete',
                'maxPartSize': 1024,
                'transferJob': RECORDED_UPLOAD_ANSWER['transferJob'],
            },
        ),
        (
            '2.4.2',
            {
                'transferJob': RECORDED_UPLOAD_ANSWER['transferJob'],
                'transferDirectives': {
                    'transfer_method': 's3',
                    'parts_upload_urls': ['part-1'],
                    'complete_upload_url': 'complete',
                    'max_part_size': 1024,
                },
            },
        ),
        ('2.5.6', RECORDED_UPLOAD_ANSWER),
        ('2.6', RECORDED_UPLOAD_ANSWER),
    ],
)
def test_a_staged_upload_answer_has_the_layout_of_its_release(release: str, expected: dict[str, Any]) -> None:
    assert staged_transfer_answer(VERSIONS[release], RECORDED_UPLOAD_ANSWER) == expected


@pytest.mark.parametrize('demo_release', ['2.2.8'])
def test_an_upload_to_2_2_8_needs_the_file_name_and_size(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    body = {
        'path': str(demo_settings.home / 'f'),
        'transfer_directives': {'transfer_method': 's3', 'file_size': 9},
    }
    response = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/upload', json=body)
    fields = [field['name'] for field in response.json()['data']['fields']]
    assert (response.status_code, fields) == (400, ['fileName', 'fileSize'])


@pytest.mark.parametrize('demo_release', LATER_THAN_2_5)
def test_a_transfer_method_the_system_does_not_offer_is_refused(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_settings.transfer_method = 'streamer'
    (demo_settings.home / 'f').write_text('x')
    body = {'sourcePath': str(demo_settings.home / 'f'), 'transferDirectives': {'transferMethod': 's3'}}
    response = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/download', json=body)
    assert (response.status_code, response.json()['message']) == (400, NOT_AVAILABLE)


@pytest.mark.parametrize(('demo_release', 'status'), [('2.4.2', 404), ('2.5.6', 400)])
def test_before_2_5_0_the_requested_transfer_method_is_not_checked(
    demo_client: TestClient, demo_settings: DemoSettings, status: int
) -> None:
    """Before 2.5.0 the system's own method was used whatever the request named: the next check answers."""
    body = {
        'sourcePath': str(demo_settings.home / 'missing'),
        'transferDirectives': {'transferMethod': 'streamer'},
    }
    response = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/download', json=body)
    assert response.status_code == status


@pytest.mark.parametrize('demo_release', LATER_THAN_2_5)
def test_a_streamer_transfer_is_refused_by_the_demo_as_not_implemented(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_settings.transfer_method = 'streamer'
    (demo_settings.home / 'f').write_text('x')
    body = {'sourcePath': str(demo_settings.home / 'f'), 'transferDirectives': {'transferMethod': 'streamer'}}
    response = demo_client.post(f'/filesystem/{demo_settings.system_name}/transfer/download', json=body)
    assert response.status_code == 501


@pytest.mark.parametrize(('demo_release', 'gzipped'), [('2.2.8', True), ('2.4.2', False), ('2.x.x', False)])
def test_compress_writes_the_requested_compression_since_2_4_0(
    demo_client: TestClient, demo_settings: DemoSettings, gzipped: bool
) -> None:
    (demo_settings.home / 'tree').mkdir()
    (demo_settings.home / 'tree' / 'a.txt').write_text('a\n')
    archive = demo_settings.home / 'tree.tar'
    body = {'sourcePath': str(demo_settings.home / 'tree'), 'targetPath': str(archive), 'compression': 'none'}
    assert (
        demo_client.post(f'/filesystem/{demo_settings.system_name}/ops/compress', json=body).status_code
        == 204
    )
    assert (archive.read_bytes()[:2] == b'\x1f\x8b', tarfile.is_tarfile(archive)) == (gzipped, True)


@pytest.mark.parametrize(('demo_release', 'status'), [('2.2.8', 500), ('2.4.2', 204)])
def test_extract_reads_the_requested_compression_since_2_4_0(
    demo_client: TestClient, demo_settings: DemoSettings, status: int
) -> None:
    (demo_settings.home / 'a.txt').write_text('a\n')
    archive = demo_settings.home / 'plain.tar'
    with tarfile.open(archive, 'w') as tar:
        tar.add(demo_settings.home / 'a.txt', arcname='a.txt')
    (demo_settings.home / 'out').mkdir()
    body = {'sourcePath': str(archive), 'targetPath': str(demo_settings.home / 'out'), 'compression': 'none'}
    response = demo_client.post(f'/filesystem/{demo_settings.system_name}/ops/extract', json=body)
    assert response.status_code == status


@pytest.mark.parametrize(('demo_release', 'id_type'), [('2.2.8', int), ('2.4.2', int), ('2.5.6', str)])
def test_job_ids_are_strings_since_2_5_0(
    demo_client: TestClient, demo_settings: DemoSettings, id_type: type
) -> None:
    job = {'script': '#!/bin/bash\ntrue\n', 'workingDirectory': str(demo_settings.home)}
    submitted = demo_client.post(f'/compute/{demo_settings.system_name}/jobs', json={'job': job}).json()[
        'jobId'
    ]
    (record,) = demo_client.get(f'/compute/{demo_settings.system_name}/jobs/{submitted}').json()['jobs']
    assert (type(submitted), type(record['jobId'])) == (id_type, id_type)
