"""Conformance of the demo's status and auth endpoints with the recorded real server (exchanges 01-08)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import require_exchanges

require_exchanges()

H1_EXCHANGE_FILES = ['01', '02', '03', '04', '05', '06', '07']
H1_EXCLUDED = {('05', 1): 'needs a reservation created by a Slurm administrator'}
EXACT_KEYS = {
    'message',
    'errorType',
    'user',
    'path',
    'dataType',
    'defaultWorkDir',
    'max_ops_file_size',
    'type',
    'connectionMode',
    'partition',
    'serviceType',
    'default',
    'access_token_type',
    'token_type',
    'scope',
}
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
Replay = Callable[[dict[str, Any]], httpx.Response]


def test_status_exchange_conforms(
    h1_recorded: dict[str, Any], h1_replay: Replay, h1_conformance: Callable[[set[str]], Any]
) -> None:
    response = h1_replay(h1_recorded['request'])
    h1_conformance(EXACT_KEYS).response(h1_recorded['response'], response)


@pytest.mark.parametrize('route', SYSTEM_ROUTES)
def test_unknown_system_is_not_found(route: str, h1_client: TestClient, h1_settings: DemoSettings) -> None:
    response = h1_client.get(route.format(system='nosuchsystem'), params={'path': str(h1_settings.home)})
    assert response.status_code == 404
    assert response.json()['message'] == 'System not found'
    assert response.json()['user'] == h1_settings.username


def test_token_endpoint_answers_like_the_identity_provider(
    h1_anonymous: TestClient,
    h1_settings: DemoSettings,
    h1_load: Callable[[str], dict[str, Any]],
    h1_conformance: Callable[[set[str]], Any],
) -> None:
    form = {
        'grant_type': 'client_credentials',
        'client_id': h1_settings.client_id,
        'client_secret': h1_settings.client_secret,
    }
    response = h1_anonymous.post('/oauth2/token', data=form)
    assert response.status_code == 200
    expected = h1_load('08')['exchanges'][0]['response']['body']
    h1_conformance(EXACT_KEYS).check(expected, response.json())
    assert response.json()['expires_in'] == h1_settings.token_lifetime


@pytest.mark.parametrize('field', ['client_id', 'client_secret'])
def test_token_endpoint_refuses_wrong_credentials(
    field: str, h1_anonymous: TestClient, h1_settings: DemoSettings
) -> None:
    form = {'grant_type': 'client_credentials', 'client_id': h1_settings.client_id}
    form['client_secret'] = h1_settings.client_secret
    form[field] = 'wrong'
    response = h1_anonymous.post('/oauth2/token', data=form)
    assert (response.status_code, response.json()) == (401, {'error': 'invalid_client'})


@pytest.mark.parametrize(
    ('index', 'authorization'),
    [(1, None), (2, None), (3, 'Bearer garbage'), (4, 'Basic Zm9vOmJhcg==')],
    ids=['no-header', 'no-header-filesystem', 'garbage', 'basic'],
)
def test_unauthenticated_requests_conform(
    index: int,
    authorization: str | None,
    h1_anonymous: TestClient,
    h1_load: Callable[[str], dict[str, Any]],
    h1_names: Any,
    h1_conformance: Callable[[set[str]], Any],
) -> None:
    exchange = h1_load('08')['exchanges'][index]
    headers = {} if authorization is None else {'Authorization': authorization}
    request = exchange['request']
    response = h1_anonymous.get(
        h1_names.text(request['path']), params=h1_names.body(request.get('query')), headers=headers
    )
    h1_conformance(EXACT_KEYS).response(exchange['response'], response)


@pytest.mark.parametrize(('index', 'remaining'), [(5, 5.0), (6, -1.0)], ids=['expires-too-soon', 'expired'])
def test_expiring_tokens_conform(
    index: int,
    remaining: float,
    h1_client: TestClient,
    h1_app: Any,
    h1_load: Callable[[str], dict[str, Any]],
    h1_conformance: Callable[[set[str]], Any],
) -> None:
    tokens = h1_app.state.demo.extra['auth']
    for token in tokens:
        tokens[token] = time.time() + remaining
    response = h1_client.get('/status/systems')
    h1_conformance(EXACT_KEYS).response(h1_load('08')['exchanges'][index]['response'], response)


def test_liveness_needs_no_token(h1_anonymous: TestClient, h1_settings: DemoSettings) -> None:
    response = h1_anonymous.get('/status/liveness/')
    assert response.status_code == 200
    assert list(response.json()['healthcheckRuns']) == [h1_settings.system_name]


def test_systems_publish_the_configured_file_systems(
    h1_client: TestClient, h1_settings: DemoSettings
) -> None:
    (system,) = h1_client.get('/status/systems').json()['systems']
    assert system['name'] == h1_settings.system_name
    assert system['fileSystems'] == [
        {'path': str(h1_settings.home_root), 'dataType': 'users', 'defaultWorkDir': True},
        {'path': str(h1_settings.scratch_root), 'dataType': 'scratch', 'defaultWorkDir': False},
    ]
    assert system['dataOperation']['max_ops_file_size'] == h1_settings.max_ops_file_size


def test_userinfo_names_the_configured_user_and_account(
    h1_client: TestClient, h1_settings: DemoSettings
) -> None:
    info = h1_client.get(f'/status/{h1_settings.system_name}/userinfo').json()
    assert info['user'] == {'id': str(h1_settings.uid), 'name': h1_settings.username}
    assert info['accounts'] == [{'name': h1_settings.account, 'default': True}]
