"""Conformance of the demo's status and auth endpoints with the recorded real server (exchanges 01-08)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.app import DemoApp
from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import load_exchanges, require_exchanges
from ._replay import Conformance, RecordedNames, Replay

require_exchanges()

EXCHANGE_FILES = ['01', '02', '03', '04', '05', '06', '07']
EXCLUDED = {('05', 1): 'needs a reservation created by a Slurm administrator'}
EXACT_KEYS = {
    # error bodies
    'message',
    'errorType',
    'user',
    # the system, its file systems, scheduler and data operations
    'path',
    'dataType',
    'defaultWorkDir',
    'max_ops_file_size',
    'datatransfer_jobs_directives',
    'type',
    'connectionMode',
    'version',
    'apiUrl',
    'apiVersion',
    'serviceType',
    'healthy',
    'maxClients',
    'privateUrl',
    'accessKeyId',
    'secretAccessKey',
    'region',
    'ttl',
    'tenant',
    'max_part_size',
    'parallel_runs',
    'tmp_folder',
    'use_split',
    'days',
    'intervalCheck',
    # partitions, nodes, accounts
    'partition',
    'partitions',
    'totalNodes',
    'state',
    'weight',
    'features',
    'default',
    # tokens
    'access_token_type',
    'token_type',
    'scope',
}
"""Keys whose recorded values the demo reproduces. The others differ from machine to machine (CPU
counts, memory, host names, ports, times) or with the demo's settings (URLs, timeouts)."""
SYSTEM_ROUTES = [
    '/status/{system}/userinfo',
    '/status/{system}/partitions',
    '/status/{system}/nodes',
    '/status/{system}/reservations',
    '/filesystem/{system}/ops/ls',
    '/filesystem/{system}/ops/stat',
    '/filesystem/{system}/ops/head',
    '/filesystem/{system}/ops/tail',
    '/filesystem/{system}/ops/view',
    '/filesystem/{system}/ops/checksum',
    '/filesystem/{system}/ops/file',
    '/filesystem/{system}/ops/download',
]


def test_status_exchange_conforms(recorded_exchange: dict[str, Any], replay: Replay) -> None:
    replay.exchange(recorded_exchange, recorded_exchange.get('note', 'status'))


@pytest.mark.parametrize('route', SYSTEM_ROUTES)
def test_unknown_system_is_not_found(
    route: str, demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    response = demo_client.get(route.format(system='nosuchsystem'), params={'path': str(demo_settings.home)})
    assert response.status_code == 404
    assert response.json()['message'] == 'System not found'
    assert response.json()['user'] == demo_settings.username


def test_token_endpoint_answers_like_the_identity_provider(
    anonymous_client: TestClient, demo_settings: DemoSettings, recorded_names: RecordedNames
) -> None:
    form = {
        'grant_type': 'client_credentials',
        'client_id': demo_settings.client_id,
        'client_secret': demo_settings.client_secret,
    }
    response = anonymous_client.post('/oauth2/token', data=form)
    assert response.status_code == 200
    expected = load_exchanges('08')['exchanges'][0]['response']['body']
    Conformance(recorded_names, EXACT_KEYS).check(expected, response.json())
    assert response.json()['expires_in'] == demo_settings.token_lifetime


@pytest.mark.parametrize('field', ['client_id', 'client_secret'])
def test_token_endpoint_refuses_wrong_credentials(
    field: str, anonymous_client: TestClient, demo_settings: DemoSettings
) -> None:
    form = {'grant_type': 'client_credentials', 'client_id': demo_settings.client_id}
    form['client_secret'] = demo_settings.client_secret
    form[field] = 'wrong'
    response = anonymous_client.post('/oauth2/token', data=form)
    assert (response.status_code, response.json()) == (401, {'error': 'invalid_client'})


@pytest.mark.parametrize(
    ('index', 'authorization'),
    [(1, None), (2, None), (3, 'Bearer garbage'), (4, 'Basic Zm9vOmJhcg==')],
    ids=['no-header', 'no-header-filesystem', 'garbage', 'basic'],
)
def test_unauthenticated_requests_conform(
    index: int, authorization: str | None, anonymous_client: TestClient, recorded_names: RecordedNames
) -> None:
    exchange = load_exchanges('08')['exchanges'][index]
    headers = {} if authorization is None else {'Authorization': authorization}
    request = exchange['request']
    response = anonymous_client.get(
        recorded_names.to_demo(request['path']),
        params=recorded_names.request_value(request.get('query')),
        headers=headers,
    )
    Conformance(recorded_names, EXACT_KEYS).response(exchange['response'], response)


@pytest.mark.parametrize(('index', 'remaining'), [(5, 5.0), (6, -1.0)], ids=['expires-too-soon', 'expired'])
def test_expiring_tokens_conform(
    index: int, remaining: float, demo_client: TestClient, demo_app: DemoApp, recorded_names: RecordedNames
) -> None:
    tokens = demo_app.demo.tokens
    for token in tokens:
        tokens[token] = time.time() + remaining
    response = demo_client.get('/status/systems')
    expected = load_exchanges('08')['exchanges'][index]['response']
    Conformance(recorded_names, EXACT_KEYS).response(expected, response)


@pytest.mark.parametrize(
    ('method', 'path', 'status', 'reason'),
    [
        ('GET', '/wrong/status/systems', 404, 'Not Found'),
        ('PATCH', '/status/systems', 405, 'Method Not Allowed'),
    ],
)
def test_a_path_or_method_the_api_does_not_serve_gets_the_servers_error_body(
    method: str, path: str, status: int, reason: str, demo_client: TestClient
) -> None:
    """As the real server's handler of every framework error renders it (src/firecrest/main.py)."""
    response = demo_client.request(method, path)
    body = {'errorType': 'error', 'message': reason, 'causedBy': None, 'data': None, 'user': None}
    assert (response.status_code, response.json()) == (status, body)


def test_liveness_needs_no_token(anonymous_client: TestClient, demo_settings: DemoSettings) -> None:
    response = anonymous_client.get('/status/liveness/')
    assert response.status_code == 200
    assert list(response.json()['healthcheckRuns']) == [demo_settings.system_name]


def test_systems_publish_the_configured_file_systems(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    (system,) = demo_client.get('/status/systems').json()['systems']
    assert system['name'] == demo_settings.system_name
    assert system['fileSystems'] == [
        {'path': str(demo_settings.home_root), 'dataType': 'users', 'defaultWorkDir': True},
        {'path': str(demo_settings.scratch_root), 'dataType': 'scratch', 'defaultWorkDir': False},
    ]
    assert system['dataOperation']['max_ops_file_size'] == demo_settings.max_ops_file_size


def test_userinfo_names_the_configured_user_and_account(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    info = demo_client.get(f'/status/{demo_settings.system_name}/userinfo').json()
    assert info['user'] == {'id': str(demo_settings.uid), 'name': demo_settings.username}
    assert info['accounts'] == [{'name': demo_settings.account, 'default': True}]
