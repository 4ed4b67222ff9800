"""Unit tests of the HTTP layer: retries, token renewal and error translation (no server needed)."""

from __future__ import annotations

import asyncio
import errno
import json
import traceback
from typing import Any

import httpx
import pytest
from firecrest.FirecrestException import MultipartUploadException, UnexpectedStatusException

from aiida_firecrest.auth import ClientCredentialsAuth, TokenCache, renewal_margin
from aiida_firecrest.client import FirecrestClient
from aiida_firecrest.errors import FirecrestConfigError, to_os_error, translate_errors
from aiida_firecrest.retries import RetryingTransport, RetryPolicy
from aiida_firecrest.settings import TransportConfig


class Script:
    """A mock server answering requests from a list of outcomes (a status code or an exception)."""

    def __init__(self, *outcomes: int | Exception, retry_after: str | None = None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.retry_after = retry_after

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else 200
        if isinstance(outcome, Exception):
            raise outcome
        headers = {'retry-after': self.retry_after} if self.retry_after and outcome == 429 else {}
        return httpx.Response(outcome, headers=headers, json={'message': 'x'})


def make_client(script: Script, sleeps: list[float], max_retries: int = 3) -> httpx.AsyncClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    transport = RetryingTransport(httpx.MockTransport(script), RetryPolicy(max_retries), sleep=sleep)
    return httpx.AsyncClient(transport=transport, base_url='http://firecrest')


DROP = httpx.RemoteProtocolError('Server disconnected without sending a response.')


@pytest.mark.parametrize(
    ('method', 'path'),
    [('GET', '/filesystem/s/ops/ls'), ('POST', '/compute/s/jobs'), ('POST', '/filesystem/s/transfer/cp')],
)
def test_429_is_retried_for_every_request_after_retry_after(method: str, path: str) -> None:
    script = Script(429, 429, 200, retry_after='2')
    sleeps: list[float] = []
    response = asyncio.run(make_client(script, sleeps).request(method, path))
    assert (response.status_code, script.calls, sleeps) == (200, 3, [2.0, 2.0])


def test_retry_after_is_capped() -> None:
    script = Script(429, 200, retry_after='3600')
    sleeps: list[float] = []
    asyncio.run(make_client(script, sleeps).get('/status/systems'))
    assert sleeps == [RetryPolicy(3).max_backoff]


@pytest.mark.parametrize('failure', [503, 500, DROP, httpx.ReadError('reset')], ids=str)
@pytest.mark.parametrize(
    ('method', 'path'),
    [
        ('GET', '/filesystem/s/ops/ls'),
        ('PUT', '/filesystem/s/ops/chmod'),
        ('POST', '/filesystem/s/ops/upload'),
        ('POST', '/utilities/upload'),
    ],
)
def test_transient_failures_are_retried_for_idempotent_requests(
    failure: int | Exception, method: str, path: str
) -> None:
    script = Script(failure, failure, 200)
    sleeps: list[float] = []
    response = asyncio.run(make_client(script, sleeps).request(method, path, content=b'body'))
    assert (response.status_code, script.calls, len(sleeps)) == (200, 3, 2)


@pytest.mark.parametrize('status', [500, 502, 504])
@pytest.mark.parametrize(
    ('path', 'body'),
    [
        ('/compute/s/jobs', {}),
        ('/filesystem/s/transfer/cp', {}),
        ('/filesystem/s/ops/mkdir', {'sourcePath': '/p', 'parent': False}),
        ('/utilities/copy', {}),
        ('/storage/xfer-internal/compress', {}),
    ],
)
def test_server_errors_are_not_retried_for_non_idempotent_posts(
    status: int, path: str, body: dict[str, object]
) -> None:
    script = Script(status)
    response = asyncio.run(make_client(script, []).post(path, json=body))
    assert (response.status_code, script.calls) == (status, 1)


@pytest.mark.parametrize('path', ['/compute/s/jobs', '/filesystem/s/transfer/mv'])
def test_a_503_is_retried_even_for_a_job_creating_post(path: str) -> None:
    """FirecREST's health checks answer 503 before running anything, as a proxy does for a busy upstream."""
    script = Script(503, 201)
    response = asyncio.run(make_client(script, []).post(path, json={}))
    assert (response.status_code, script.calls) == (201, 2)


def test_mkdir_with_parents_is_retried_after_a_server_error() -> None:
    script = Script(500, 201)
    body = {'sourcePath': '/p/q', 'parent': True}
    response = asyncio.run(make_client(script, []).post('/filesystem/s/ops/mkdir', json=body))
    assert (response.status_code, script.calls) == (201, 2)


@pytest.mark.parametrize(
    ('form', 'calls'), [({'targetPath': '/p/q', 'p': 'True'}, 2), ({'targetPath': '/p'}, 1)]
)
def test_a_v1_mkdir_is_retried_after_a_server_error_only_with_parents(
    form: dict[str, str], calls: int
) -> None:
    """v1's ``mkdir`` runs ``mkdir -p`` when the form has a ``p`` field at all."""
    script = Script(500, 201)
    response = asyncio.run(make_client(script, []).post('/utilities/mkdir', data=form))
    assert script.calls == calls
    assert response.status_code == (201 if calls == 2 else 500)


@pytest.mark.parametrize(
    ('path', 'message'),
    [
        (
            '/filesystem/s/ops/ls',
            'Remote process failed with exit status:1 and error message:ls: Not a directory',
        ),
        (
            '/compute/s/jobs/99',
            'Unexpected PBS qstat response. exit_status:153 std_err:qstat: Unknown Job Id 99.pbs\n',
        ),
    ],
)
def test_a_failed_remote_command_is_not_retried(path: str, message: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={'errorType': 'error', 'message': message})

    calls: list[httpx.Request] = []
    transport = RetryingTransport(httpx.MockTransport(answer), RetryPolicy(3))
    response = asyncio.run(httpx.AsyncClient(transport=transport).get(f'http://f{path}'))
    assert (response.status_code, len(calls)) == (500, 1)


def test_dropped_connection_is_not_retried_for_a_job_submission() -> None:
    script = Script(DROP)
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(make_client(script, []).post('/compute/s/jobs', json={}))
    assert script.calls == 1


def test_connection_refused_is_retried_even_for_posts() -> None:
    script = Script(httpx.ConnectError('refused'), 201)
    response = asyncio.run(make_client(script, []).post('/compute/s/jobs', json={}))
    assert (response.status_code, script.calls) == (201, 2)


def test_retries_are_bounded() -> None:
    script = Script(*[503] * 10)
    sleeps: list[float] = []
    response = asyncio.run(make_client(script, sleeps, max_retries=2).get('/status/systems'))
    assert (response.status_code, script.calls) == (503, 3)


def test_backoff_grows() -> None:
    policy = RetryPolicy(5, backoff=1.0, max_backoff=100)
    assert policy.delay(0) < policy.delay(2) < policy.delay(4)


@pytest.mark.parametrize(('lifetime', 'margin'), [(45, 35), (300, 60), (3600, 60), (100, 50)])
def test_renewal_margin_keeps_tokens_above_the_servers_30_s_limit(lifetime: float, margin: float) -> None:
    assert renewal_margin(lifetime) == margin


class TokenServer:
    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.issued += 1
        return httpx.Response(200, json={'access_token': f't{self.issued}', 'expires_in': self.lifetime})


def test_token_is_renewed_before_the_margin_and_shared_by_concurrent_requests() -> None:
    now = [0.0]
    server = TokenServer(lifetime=45)

    async def scenario() -> list[str]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        auth = ClientCredentialsAuth(
            'http://idp/token', 'id', 'secret', http, clock=lambda: now[0], tokens=TokenCache()
        )
        first = await asyncio.gather(*(auth.auth_headers() for _ in range(5)))
        now[0] = 9.0
        still = await auth.auth_headers()
        now[0] = 10.5
        renewed = await auth.auth_headers()
        return [h['Authorization'] for h in (*first, still, renewed)]

    headers = asyncio.run(scenario())
    assert headers == ['Bearer t1'] * 6 + ['Bearer t2']
    assert server.issued == 2


def _headers_of_two_clients(
    server: TokenServer, secrets: tuple[str, str], refused: bool = False
) -> list[str]:
    """The headers of two clients of one process made one after the other (the first one's token refused
    by the server before the second is made, if ``refused``)."""

    async def scenario() -> list[str]:
        tokens = TokenCache()
        http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        first = ClientCredentialsAuth('http://idp/token', 'id', secrets[0], http, tokens=tokens)
        headers = [(await first.auth_headers())['Authorization']]
        if refused:
            first.invalidate()
        second = ClientCredentialsAuth('http://idp/token', 'id', secrets[1], http, tokens=tokens)
        headers.append((await second.auth_headers())['Authorization'])
        return headers

    return asyncio.run(scenario())


def test_clients_of_one_process_share_a_token() -> None:
    """The daemon opens a transport per batch of operations: one token per worker, not per opening."""
    server = TokenServer(lifetime=300)
    assert _headers_of_two_clients(server, ('secret', 'secret')) == ['Bearer t1', 'Bearer t1']
    assert server.issued == 1


@pytest.mark.parametrize(
    ('secrets', 'refused'), [(('secret', 'secret'), True), (('secret', 'another secret'), False)]
)
def test_a_refused_token_or_other_credentials_get_a_token_of_their_own(
    secrets: tuple[str, str], refused: bool
) -> None:
    server = TokenServer(lifetime=300)
    assert _headers_of_two_clients(server, secrets, refused) == ['Bearer t1', 'Bearer t2']


def token_answer(status: int, **kwargs: Any) -> str:
    """The error of a first token request answered with ``status`` and ``kwargs`` (``json=``, ``text=``)."""

    async def scenario() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(status, **kwargs)))
        await ClientCredentialsAuth('http://idp/token', 'me', 's3cr3t', http).auth_headers()

    with pytest.raises(OSError) as info:
        asyncio.run(scenario())
    assert 's3cr3t' not in str(info.value)
    return f'{type(info.value).__name__}: {info.value}'


def test_refused_credentials_raise_permission_error_without_the_secret() -> None:
    message = token_answer(401, json={'error': 'invalid_client'})
    assert message.startswith("PermissionError: The token endpoint http://idp/token refused client id 'me'")


@pytest.mark.parametrize(
    ('status', 'answer'),
    [(200, {'text': '<html>login</html>'}), (404, {'json': {'detail': 'Not Found'}}), (200, {'json': {}})],
)
def test_a_token_uri_that_is_not_an_oauth2_endpoint_says_so(status: int, answer: dict[str, Any]) -> None:
    message = token_answer(status, **answer)
    assert message.startswith('FirecrestConfigError: http://idp/token is not an OAuth2 token endpoint')


def firecrest_error(status: int, message: str) -> UnexpectedStatusException:
    request = httpx.Request('GET', 'http://firecrest/filesystem/s/ops/ls')
    response = httpx.Response(status, content=json.dumps({'message': message}), request=request)
    return UnexpectedStatusException([response], 200)


@pytest.mark.parametrize(
    ('status', 'message', 'expected', 'code'),
    [
        (
            404,
            'Remote process failed with exit status:2 and error message:ls: No such file or directory',
            FileNotFoundError,
            errno.ENOENT,
        ),
        (
            403,
            'Remote process failed with exit status:1 and error message:Permission denied',
            PermissionError,
            errno.EACCES,
        ),
        (
            400,
            'Remote process failed with exit status:1 and error message:mkdir: File exists',
            FileExistsError,
            errno.EEXIST,
        ),
        (
            500,
            'Remote process failed with exit status:1 and error message:head: error reading: Is a directory',
            IsADirectoryError,
            errno.EISDIR,
        ),
        (
            500,
            'Remote process failed with exit status:1 and error message:x: Not a directory',
            NotADirectoryError,
            errno.ENOTDIR,
        ),
        (
            500,
            'Unexpected PBS qstat response. exit_status:153 std_err:qstat: Unknown Job Id 99.pbs\n',
            FileNotFoundError,
            errno.ENOENT,
        ),
        (413, 'File to upload is too large.', OSError, errno.EFBIG),
        (500, 'Unexpected error', OSError, errno.EIO),
        (401, 'Access token expired', PermissionError, errno.EACCES),
    ],
)
def test_firecrest_errors_map_to_os_errors(status: int, message: str, expected: type, code: int) -> None:
    error = to_os_error(firecrest_error(status, message), '/home/u/f')
    assert type(error) is expected
    assert (error.errno, error.filename) == (code, '/home/u/f')
    assert message in str(error)


def test_translate_errors_chains_the_original() -> None:
    original = firecrest_error(404, 'No such file or directory')
    with pytest.raises(FileNotFoundError) as info, translate_errors('/p'):
        raise original
    assert info.value.__cause__ is original


@pytest.mark.parametrize(
    ('exc', 'expected'), [(httpx.ReadTimeout('slow'), TimeoutError), (DROP, ConnectionError)]
)
def test_httpx_errors_map_to_os_errors(exc: Exception, expected: type) -> None:
    assert type(to_os_error(exc, '/p')) is expected


def test_a_connection_error_is_one_line_naming_the_server() -> None:
    request = httpx.Request('GET', 'http://firecrest/v2/filesystem/s/ops/ls?path=/x')
    error = to_os_error(httpx.ConnectError('[Errno 111] Connection refused', request=request), '/x')
    assert type(error) is ConnectionError
    assert str(error) == (
        'Cannot reach http://firecrest/v2: the connection was refused. '
        'Check the URL and your network (VPN, proxy).'
    )


def test_a_server_older_than_the_plugin_needs_is_refused_at_the_first_request() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == '/token':
            return httpx.Response(200, json={'access_token': 't', 'expires_in': 300})
        return httpx.Response(200, headers={'f7t-appversion': '2.1.0'}, json={'systems': []})

    config = TransportConfig(
        url='http://f', token_uri='http://f/token', client_id='c', client_secret='s',
        compute_resource='s', temp_directory='/tmp',
    )  # fmt: skip

    async def scenario() -> None:
        client = await FirecrestClient.connect(config, httpx.MockTransport(answer))
        try:
            await client.server_version()
        finally:
            await client.close()

    with pytest.raises(FirecrestConfigError, match=r'runs API version 2\.1\.0, older than 2\.2\.8'):
        asyncio.run(scenario())


class ExpiringAuth:
    """A token source whose tokens are numbered; ``invalidate`` makes the next one new."""

    def __init__(self) -> None:
        self.issued = 1

    async def auth_headers(self) -> dict[str, str]:
        return {'Authorization': f'Bearer t{self.issued}'}

    def invalidate(self) -> None:
        self.issued += 1


@pytest.mark.parametrize(
    'refusal',
    [
        'Access token expires too soon (less than 30s remaining).',
        'Access token expired',
        'Access token is invalid.',
        "Token's public key not found.",
    ],
)
def test_a_refused_token_is_renewed_and_the_request_sent_again(refusal: str) -> None:
    auth = ExpiringAuth()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers['authorization'])
        if request.headers['authorization'] == 'Bearer t1':
            return httpx.Response(401, json={'message': refusal})
        return httpx.Response(201, json={'jobId': '1'})

    transport = RetryingTransport(httpx.MockTransport(answer), RetryPolicy(3), auth=auth)
    client = httpx.AsyncClient(transport=transport)
    response = asyncio.run(
        client.post('http://f/compute/s/jobs', json={}, headers={'Authorization': 'Bearer t1'})
    )
    assert (response.status_code, seen) == (201, ['Bearer t1', 'Bearer t2'])


@pytest.mark.parametrize('refusal', ['Not authenticated', 'Inactive authentication'])
def test_a_refusal_a_new_token_cannot_cure_is_not_sent_again(refusal: str) -> None:
    auth = ExpiringAuth()
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={'message': refusal})

    transport = RetryingTransport(httpx.MockTransport(answer), RetryPolicy(3), auth=auth)
    client = httpx.AsyncClient(transport=transport)
    response = asyncio.run(client.get('http://f/status/systems', headers={'Authorization': 'Bearer t1'}))
    assert (response.status_code, len(calls)) == (401, 1)


def test_retries_carry_a_fresh_authorization_header() -> None:
    auth = ExpiringAuth()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers['authorization'])
        auth.invalidate()  # time passes: the source now hands out a newer token
        return httpx.Response(429 if len(seen) < 3 else 200, headers={'retry-after': '0'})

    transport = RetryingTransport(httpx.MockTransport(answer), RetryPolicy(3), auth=auth)
    client = httpx.AsyncClient(transport=transport)
    asyncio.run(client.get('http://f/status/systems', headers={'Authorization': 'Bearer t1'}))
    assert seen == ['Bearer t1', 'Bearer t2', 'Bearer t3']


SIGNED_URL = 'http://127.0.0.1:9000/bucket/f?X-Amz-Signature=SECRETSIGNATURE&partNumber=1'


@pytest.mark.parametrize(
    'error',
    [
        MultipartUploadException({'partsUploadUrls': [SIGNED_URL]}, f'Failed part 1 to {SIGNED_URL}'),
        httpx.HTTPStatusError(
            f'Client error for url {SIGNED_URL}',
            request=httpx.Request('GET', SIGNED_URL),
            response=httpx.Response(403, request=httpx.Request('GET', SIGNED_URL)),
        ),
    ],
)
def test_presigned_urls_stay_out_of_translated_errors(error: Exception) -> None:
    with pytest.raises(OSError) as info, translate_errors('/remote/file'):
        raise error
    assert 'SECRETSIGNATURE' not in ''.join(traceback.format_exception(info.value))
    assert '/remote/file' in str(info.value)
