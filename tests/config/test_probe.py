"""Configuration-time checks of a FirecREST server give one clear line per problem."""

from __future__ import annotations

from typing import Any

import pytest

from aiida_firecrest.probe import (
    FirecrestProbe,
    ProbeError,
    ServerUnreachableError,
    V1ServerError,
    api_version_problem,
    check_token_endpoint,
    parse_api_version,
)

from .server_probe import authenticated_probe


@pytest.mark.parametrize(
    ('header', 'expected'),
    [
        ('2.x.x', (2,)),
        ('2.5.7', (2, 5, 7)),
        ('v2.3', (2, 3)),
        ('1.16.0', (1, 16, 0)),
        ('dev', None),
        (None, None),
    ],
)
def test_api_version_is_read_leniently(header: str | None, expected: tuple[int, ...] | None) -> None:
    assert parse_api_version(header) == expected


@pytest.mark.parametrize('header', ['2.x.x', '2.2.8', '2.5.7', '3.0.0', None, 'unknown'])
def test_recent_or_unstated_api_versions_are_accepted(header: str | None) -> None:
    assert api_version_problem(header) is None


@pytest.mark.parametrize('header', ['1.16.0', '2.1.0', '2.2.7'])
def test_old_api_versions_are_refused_with_the_minimum(header: str) -> None:
    problem = api_version_problem(header)
    assert problem is not None
    assert header in problem and '2.2.8' in problem


def test_unreachable_server_is_reported_as_such(h5_closed_port_url: str) -> None:
    with pytest.raises(ServerUnreachableError, match=r'^Cannot reach .*: the connection was refused\.'):
        FirecrestProbe(h5_closed_port_url).check_reachable()


def test_unknown_host_is_reported_as_such() -> None:
    with pytest.raises(ServerUnreachableError, match='the host name cannot be resolved'):
        FirecrestProbe('http://h5-no-such-host.invalid').check_reachable()


def test_untrusted_certificate_is_reported_with_what_to_do(h5_tls_url: str) -> None:
    with pytest.raises(
        ProbeError, match=r'TLS certificate of 127\.0\.0\.1:\d+ could not be verified.*SSL_CERT_FILE'
    ) as info:
        FirecrestProbe(h5_tls_url).check_reachable()
    assert not isinstance(info.value, ServerUnreachableError)


def test_token_uri_of_the_server_is_an_oauth2_endpoint(firecrest_server: Any) -> None:
    check_token_endpoint(firecrest_server.config['token_uri'])


def test_token_uri_that_is_not_oauth2_is_refused(firecrest_server: Any) -> None:
    not_oauth2 = f'{firecrest_server.config["url"]}/status/liveness/'
    with pytest.raises(ProbeError, match=r'is not an OAuth2 token endpoint \(it answered HTTP \d+'):
        check_token_endpoint(not_oauth2)


def test_wrong_client_secret_is_reported_without_the_secret(firecrest_server: Any) -> None:
    config = firecrest_server.config
    with pytest.raises(ProbeError, match='refused client id') as info:
        FirecrestProbe(config['url']).authenticate(
            config['token_uri'], config['client_id'], 'h5-wrong-secret'
        )
    assert 'h5-wrong-secret' not in str(info.value)


def test_systems_and_user_accounts_are_read_with_a_token(firecrest_server: Any) -> None:
    config = firecrest_server.config
    with authenticated_probe(config) as probe:
        names = [system['name'] for system in probe.systems()]
        userinfo = probe.userinfo(config['compute_resource'])
    assert config['compute_resource'] in names
    assert probe.api_version is not None
    assert userinfo['user']['name']
    accounts = userinfo.get('accounts')
    if config.get('billing_account') and accounts is not None:  # listed on Slurm since FirecREST 2.5.1
        assert config['billing_account'] in [account['name'] for account in accounts]


def test_url_that_does_not_serve_firecrest_is_named(firecrest_server: Any) -> None:
    config = firecrest_server.config
    with FirecrestProbe(config['url'] + '/h5-not-here') as probe:
        probe.authenticate(config['token_uri'], config['client_id'], _secret(config))
        with pytest.raises(ProbeError, match='does not serve the FirecREST v2 API'):
            probe.systems()


def _secret(config: dict[str, Any]) -> str:
    from aiida_firecrest.secrets import resolve_secret

    return resolve_secret(str(config['client_secret']))


def test_probe_repr_shows_no_token(firecrest_server: Any) -> None:
    config = firecrest_server.config
    with FirecrestProbe(config['url']) as probe:
        probe.authenticate(config['token_uri'], config['client_id'], _secret(config))
        token = probe._token
        assert token and token not in repr(probe)


def _scripted_probe(status: int, body: object, headers: dict[str, str]) -> FirecrestProbe:
    """A probe whose server answers every request with ``status``, ``body`` and ``headers``."""
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))
    return FirecrestProbe('https://firecrest.example.org', http=httpx.Client(transport=transport))


def test_server_with_an_old_api_version_is_refused_at_configuration() -> None:
    probe = _scripted_probe(200, {'systems': []}, {'f7t-appversion': '2.1.0'})
    with pytest.raises(ProbeError, match=r'runs API version 2\.1\.0, older than 2\.2\.8'):
        probe.systems()


def test_firecrest_v1_answer_is_not_taken_for_v2() -> None:
    probe = _scripted_probe(200, {'description': 'List of systems', 'out': []}, {})
    with pytest.raises(V1ServerError, match=r'serves the FirecREST v1 API, not v2.*usually ends in /v2'):
        probe.systems()


@pytest.mark.parametrize(
    ('url_fixture', 'reason'),
    [('h5_closed_port_url', 'the connection was refused'), (None, 'the host name cannot be resolved')],
)
def test_errors_of_the_async_client_are_explained_for_first_use(
    url_fixture: str | None, reason: str, request: pytest.FixtureRequest
) -> None:
    """The transport's client (async httpx) gets the same one-line explanation as configuration does."""
    import asyncio

    import httpx

    from aiida_firecrest.probe import explain_http_error

    url = request.getfixturevalue(url_fixture) if url_fixture else 'http://h5-no-such-host.invalid'

    async def fetch() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(url)

    with pytest.raises(httpx.ConnectError) as info:
        asyncio.run(fetch())
    assert str(explain_http_error(info.value, url)) == (
        f'Cannot reach {url}: {reason}. Check the URL and your network (VPN, proxy).'
    )


@pytest.mark.parametrize(
    ('status', 'body', 'expected'),
    [
        (401, {'error': 'invalid_client'}, "refused client id 'me'"),
        (400, {'error': 'unauthorized_client', 'error_description': 'x'}, "refused client id 'me'"),
        (404, {'detail': 'Not Found'}, 'is not an OAuth2 token endpoint (it answered HTTP 404'),
        (200, {'systems': []}, 'is not an OAuth2 token endpoint (it answered HTTP 200'),
    ],
)
def test_failed_token_requests_are_told_apart(status: int, body: object, expected: str) -> None:
    import httpx

    from aiida_firecrest.probe import token_error_message

    response = httpx.Response(status, json=body)
    assert expected in token_error_message('https://idp.example.org/token', 'me', response)


def test_a_basic_auth_challenge_counts_as_an_oauth2_answer() -> None:
    import httpx

    from aiida_firecrest.probe import token_error_message

    response = httpx.Response(401, text='', headers={'WWW-Authenticate': 'Basic realm="token"'})
    expected = "refused client id 'me'"
    assert expected in token_error_message('https://idp.example.org/token', 'me', response)


def test_https_to_a_plain_http_server_is_a_handshake_problem(firecrest_server: Any) -> None:
    url = firecrest_server.config['url']
    if not url.startswith('http://'):
        pytest.skip('needs a server reached with plain http')
    with pytest.raises(ProbeError, match=r'The TLS handshake with .* failed \(.*\); check the URL') as info:
        FirecrestProbe('https://' + url.removeprefix('http://')).check_reachable()
    assert not isinstance(info.value, ServerUnreachableError)
