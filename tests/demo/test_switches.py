"""The demo server's switches: request counters, latency, fault injection, and the ``/_demo`` endpoints."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings, FaultRule
from aiida_firecrest.demo.versions import server_version


def _ls(client: TestClient, settings: DemoSettings) -> httpx.Response:
    response: httpx.Response = client.get(
        f'/filesystem/{settings.system_name}/ops/ls', params={'path': str(settings.home)}
    )
    return response


def test_counters_count_firecrest_requests_by_route_template(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    _ls(demo_client, demo_settings)
    _ls(demo_client, demo_settings)
    demo_client.get('/status/systems')
    demo_client.get('/status/nosuchsystem/nodes')
    assert demo_client.get('/_demo/counters').json() == {
        'GET /filesystem/{system_name}/ops/ls': 2,
        'GET /status/systems': 1,
        'GET /status/{system_name}/nodes': 1,
    }


def test_counters_ignore_token_and_admin_requests(demo_client: TestClient) -> None:
    demo_client.get('/_demo/switches')
    assert demo_client.get('/_demo/counters').json() == {}


def test_counters_reset(demo_client: TestClient) -> None:
    demo_client.get('/status/systems')
    assert demo_client.delete('/_demo/counters').status_code == 204
    assert demo_client.get('/_demo/counters').json() == {}


def test_latency_delays_firecrest_requests(demo_client: TestClient) -> None:
    demo_client.put('/_demo/switches', json={'latency': 0.3})
    start = time.monotonic()
    demo_client.get('/status/systems')
    assert time.monotonic() - start >= 0.3


def test_switches_put_replaces_only_the_given_ones(
    demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_client.put('/_demo/switches', json={'latency': 0.5, 'job_not_found_for': 2})
    answer = demo_client.put(
        '/_demo/switches', json={'faults': [{'kind': '503', 'endpoint': '/ops/ls'}]}
    ).json()
    expected = {'kind': '503', 'every': 1, 'endpoint': '/ops/ls', 'count': None, 'retry_after': None}
    assert answer == {'latency': 0.5, 'faults': [expected], 'job_not_found_for': 2}
    assert demo_client.get('/_demo/switches').json() == answer
    assert demo_settings.faults == [FaultRule(kind='503', endpoint='/ops/ls')]


def test_switches_refuse_an_unknown_fault_kind(demo_client: TestClient) -> None:
    assert demo_client.put('/_demo/switches', json={'faults': [{'kind': '418'}]}).status_code == 400


@pytest.mark.parametrize(
    ('kind', 'message'),
    [('429', 'Too Many Requests'), ('500', 'Internal Server Error'), ('503', 'Service Unavailable')],
)
def test_fault_answers_with_its_status(
    kind: str, message: str, demo_client: TestClient, demo_settings: DemoSettings
) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': kind, 'retry_after': 2}]})
    response = demo_client.get('/status/systems')
    assert (response.status_code, response.json()['message']) == (int(kind), message)
    assert response.headers.get('retry-after') == ('2' if kind in ('429', '503') else None)
    assert response.headers['f7t-appversion'] == server_version(demo_settings.server_version).app_version


def test_fault_every_nth_request(demo_client: TestClient) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': '500', 'every': 3}]})
    statuses = [demo_client.get('/status/systems').status_code for _ in range(6)]
    assert statuses == [200, 200, 500, 200, 200, 500]


def test_fault_only_for_its_endpoint(demo_client: TestClient, demo_settings: DemoSettings) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': '503', 'endpoint': '/ops/ls'}]})
    assert demo_client.get('/status/systems').status_code == 200
    assert _ls(demo_client, demo_settings).status_code == 503


def test_fault_stops_after_its_count(demo_client: TestClient) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': '429', 'count': 2}]})
    statuses = [demo_client.get('/status/systems').status_code for _ in range(4)]
    assert statuses == [429, 429, 200, 200]


def test_faulted_requests_are_counted(demo_client: TestClient) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': '503'}]})
    demo_client.get('/status/systems')
    assert demo_client.get('/_demo/counters').json() == {'GET /status/systems': 1}


def test_drop_in_process_is_a_protocol_error(demo_client: TestClient) -> None:
    demo_client.put('/_demo/switches', json={'faults': [{'kind': 'drop', 'count': 1}]})
    with pytest.raises(httpx.RemoteProtocolError):
        demo_client.get('/status/systems')
    assert demo_client.get('/status/systems').status_code == 200


@pytest.mark.parametrize(
    ('method', 'path'),
    [
        ('GET', '/status/systems'),
        ('GET', '/status/liveness'),
        ('GET', '/status/nosuch/nodes'),
        ('GET', '/nowhere'),
    ],
)
def test_every_response_carries_the_app_version(
    method: str, path: str, anonymous_client: TestClient, demo_settings: DemoSettings
) -> None:
    response = anonymous_client.request(method, path, follow_redirects=False)
    assert response.headers['f7t-appversion'] == server_version(demo_settings.server_version).app_version


@pytest.fixture
def socket_server(demo_app: FastAPI) -> Iterator[str]:
    """The demo app served by uvicorn on a free 127.0.0.1 port, in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    server = uvicorn.Server(uvicorn.Config(demo_app, log_level='critical', lifespan='off'))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f'http://127.0.0.1:{sock.getsockname()[1]}'
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def socket_client(socket_server: str, demo_settings: DemoSettings) -> Iterator[httpx.Client]:
    """An httpx client with a valid token, talking to the demo over a socket."""
    form: dict[str, Any] = {
        'grant_type': 'client_credentials',
        'client_id': demo_settings.client_id,
        'client_secret': demo_settings.client_secret,
    }
    with httpx.Client(base_url=socket_server, timeout=10) as client:
        access_token = client.post('/oauth2/token', data=form).json()['access_token']
        client.headers['Authorization'] = f'Bearer {access_token}'
        yield client


def test_drop_over_a_socket_closes_without_an_answer(socket_client: httpx.Client) -> None:
    socket_client.put('/_demo/switches', json={'faults': [{'kind': 'drop', 'count': 1}]})
    with pytest.raises(httpx.RemoteProtocolError, match='without sending a response'):
        socket_client.get('/status/systems')
    assert socket_client.get('/status/systems').status_code == 200


def test_missing_path_closes_the_keep_alive_connection(
    socket_client: httpx.Client, demo_settings: DemoSettings
) -> None:
    response = socket_client.get(f'/filesystem/{demo_settings.system_name}/ops/ls')
    assert (response.status_code, response.headers['connection']) == (400, 'close')
    assert socket_client.get('/status/systems').status_code == 200


def test_unhandled_errors_answer_like_the_real_server(demo_app: FastAPI, demo_settings: DemoSettings) -> None:
    @demo_app.get('/compute/{system_name}/broken')
    def broken(system_name: str) -> None:
        raise TypeError("unsupported operand type(s) for /: 'NoneType' and 'int'")

    with TestClient(demo_app) as client:
        response = client.get(f'/compute/{demo_settings.system_name}/broken')
    assert response.status_code == 500
    assert response.json() == {
        'errorType': 'error',
        'message': "(\"unsupported operand type(s) for /: 'NoneType' and 'int'\",)",
        'causedBy': None,
        'data': None,
        'user': None,
    }
