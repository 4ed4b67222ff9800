"""The v1 demo injects the ``/_demo`` switches' faults as the v2 demo does, answered in v1's error shape.

Only v1's micro-services (``/status``, ``/utilities``, ``/storage``, ``/compute``, ``/tasks``) are faulted:
the token endpoint and the ``/_demo`` routes always answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from aiida_firecrest.demo.launcher import DemoServer


@pytest.fixture
def faults(v1_server: DemoServer) -> Iterator[Any]:
    """``faults(*rules)`` switches the fault rules on; they are switched off after the test."""
    v1_server.reset_counters()
    yield lambda *rules: v1_server.set_switches(faults=list(rules))
    v1_server.set_switches(faults=[])


def _token(v1_server: DemoServer) -> httpx.Response:
    config = v1_server.config
    credentials = {'client_id': config['client_id'], 'client_secret': config['client_secret']}
    return httpx.post(
        config['token_uri'], data={'grant_type': 'client_credentials', **credentials}, timeout=10
    )


@pytest.fixture
def headers(v1_server: DemoServer) -> dict[str, str]:
    """A valid token and the system, as every v1 request about a system carries them."""
    token = _token(v1_server).json()['access_token']
    return {'Authorization': f'Bearer {token}', 'X-Machine-Name': v1_server.config['compute_resource']}


def _ls(v1_server: DemoServer, headers: dict[str, str]) -> httpx.Response:
    params = {'targetPath': v1_server.config['workdir']}
    return httpx.get(f'{v1_server.url}/utilities/ls', params=params, headers=headers, timeout=10)


def test_a_429_has_a_retry_after_and_v1s_error_body(
    v1_server: DemoServer, headers: dict[str, str], faults: Any
) -> None:
    faults({'kind': '429', 'endpoint': '/utilities/ls', 'retry_after': 2})
    answer = _ls(v1_server, headers)
    assert answer.status_code == 429
    assert answer.headers['Retry-After'] == '2'
    assert answer.json() == {'description': 'Too Many Requests', 'error': 'API rate limit exceeded'}
    assert 'f7t-appversion' not in answer.headers  # v1 has no version header, faulted or not
    assert v1_server.counters() == {'GET /utilities/ls': 1}  # a refused request is counted


@pytest.mark.parametrize(
    ('kind', 'body'),
    [
        ('500', {'description': 'Internal Server Error', 'error': 'FirecREST Internal error'}),
        ('503', {'description': 'Service Unavailable', 'error': 'Service unavailable'}),
    ],
)
def test_server_errors_are_answered_in_v1s_shape_without_retry_after(
    v1_server: DemoServer, headers: dict[str, str], faults: Any, kind: str, body: dict[str, str]
) -> None:
    faults({'kind': kind, 'endpoint': '/utilities/ls'})
    answer = _ls(v1_server, headers)
    assert (answer.status_code, answer.json()) == (int(kind), body)
    assert 'Retry-After' not in answer.headers


def test_a_rule_fails_only_the_endpoints_it_names_every_nth_time_up_to_its_count(
    v1_server: DemoServer, headers: dict[str, str], faults: Any
) -> None:
    faults({'kind': '503', 'endpoint': '/utilities/ls', 'every': 2, 'count': 2})
    statuses = [_ls(v1_server, headers).status_code for _ in range(6)]
    assert statuses == [200, 503, 200, 503, 200, 200]
    stat = httpx.get(
        f'{v1_server.url}/utilities/stat',
        params={'targetPath': v1_server.config['workdir']},
        headers=headers,
        timeout=10,
    )
    assert stat.status_code == 200


@pytest.mark.parametrize('kind', ['drop', 'drop-after'])
def test_a_dropped_connection_gets_no_answer(
    v1_server: DemoServer, headers: dict[str, str], faults: Any, kind: str
) -> None:
    faults({'kind': kind, 'endpoint': '/utilities/ls', 'count': 1})
    with pytest.raises(httpx.RemoteProtocolError):
        _ls(v1_server, headers)
    assert _ls(v1_server, headers).status_code == 200


def test_the_token_endpoint_and_the_demo_routes_are_never_faulted(
    v1_server: DemoServer, headers: dict[str, str], faults: Any
) -> None:
    faults({'kind': '503'}, {'kind': 'drop', 'endpoint': '/oauth2'}, {'kind': 'drop', 'endpoint': '/_demo'})
    assert _token(v1_server).status_code == 200
    assert httpx.get(f'{v1_server.url}/_demo/switches').status_code == 200
    assert httpx.get(f'{v1_server.url}/_demo/counters').status_code == 200
    assert httpx.get(f'{v1_server.url}/status/systems', headers=headers).status_code == 503
    assert v1_server.counters() == {'GET /status/systems': 1}
