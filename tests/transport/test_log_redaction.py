"""No credential in a log record or an error: tokens, the client secret and presigned URLs' signatures.

The logs are captured at DEBUG for the plugin's loggers and those of the libraries it talks through, as a
user debugging a transfer would set them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import traceback
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
from firecrest.FirecrestException import MultipartUploadException, UnexpectedStatusException

from aiida_firecrest.auth import ClientCredentialsAuth
from aiida_firecrest.errors import translated
from aiida_firecrest.redaction import REDACTED, redact
from aiida_firecrest.secrets import resolve_secret
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.settings import MIB, TransportConfig
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import InProcessDemo
from tests.transport.fixture_types import WithTransport

from .conftest import run_with_transport

LOGGERS = ('aiida_firecrest', 'httpx', 'httpcore', 'firecrest')
#: A presigned URL's signing parameters with a value that is not the redaction mark.
UNREDACTED_SIGNATURE = re.compile(r'(?i)X-Amz-(?:Signature|Credential|Security-Token)=(?!\[redacted\])')
PRESIGNED = (
    'http://127.0.0.1:9000/bucket/f7t/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256'
    '&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request'
    '&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host'
    '&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the plugin receives during the test, in order."""
    tokens: list[str] = []
    renew = ClientCredentialsAuth._renew

    async def recording(self: ClientCredentialsAuth) -> None:
        await renew(self)
        tokens.append(str(self._token))

    monkeypatch.setattr(ClientCredentialsAuth, '_renew', recording)
    return tokens


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as a handler writes it, and its message as a handler reads it."""
    return caplog.text + '\n'.join(record.getMessage() for record in caplog.records)


def assert_no_credentials(text: str, credentials: list[str]) -> None:
    assert [credential for credential in credentials if credential in text] == []
    assert UNREDACTED_SIGNATURE.search(text) is None
    assert re.search(r'(?i)bearer\s+(?!\[redacted\])\w', text) is None


@pytest.mark.slow
def test_a_staged_transfer_of_12_mib_logs_no_token_signature_or_secret(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    debug_logs: pytest.LogCaptureFixture,
    issued_tokens: list[str],
    transport_params: dict[str, Any],
) -> None:
    data = os.urandom(12 * MIB)
    (local_dir / 'big').write_bytes(data)

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_dir / 'big', remote_dir / 'big')
        await t.getfile_async(remote_dir / 'big', local_dir / 'back')

    clear_server_facts()  # as in a new process: the token is fetched (and may be logged) during the test
    with_transport(scenario, small_file_size_mb=1)
    assert (local_dir / 'back').read_bytes() == data
    text = logged_text(debug_logs)
    assert 'X-Amz-' in text or REDACTED in text, 'the object-storage requests were not logged at all'
    assert issued_tokens
    assert_no_credentials(text, [*issued_tokens, resolve_secret(transport_params['client_secret'])])


def test_token_renewals_log_no_token_or_secret(
    asgi_transport: InProcessDemo, debug_logs: pytest.LogCaptureFixture, issued_tokens: list[str]
) -> None:
    """Tokens of 36 s are renewed about every second (the server refuses those with less than 30 s left),
    and one is refused by the server and renewed at once."""
    asgi_transport.settings.token_lifetime = 36
    names = set(TransportConfig.__dataclass_fields__)
    params = {key: value for key, value in asgi_transport.config.items() if key in names}

    async def scenario(t: FirecrestTransport) -> None:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            await t.listdir_async(asgi_transport.config['workdir'])
            await asyncio.sleep(0.2)
        asgi_transport.state.tokens.clear()  # the server forgets its tokens: the next is refused
        await t.listdir_async(asgi_transport.config['workdir'])

    run_with_transport(params, scenario, http_transport=asgi_transport)
    text = logged_text(debug_logs)
    assert len(issued_tokens) >= 3
    assert 'token' in text.lower(), 'the renewals were not logged at all'
    assert_no_credentials(text, [*issued_tokens, asgi_transport.settings.client_secret])


def _object_storage_error() -> httpx.HTTPStatusError:
    request = httpx.Request('GET', PRESIGNED)
    response = httpx.Response(500, request=request, text=f'<Error><Resource>{PRESIGNED}</Resource></Error>')
    return httpx.HTTPStatusError(f"Server error for url '{PRESIGNED}'", request=request, response=response)


def _refused_token_error() -> UnexpectedStatusException:
    request = httpx.Request(
        'GET', 'http://f/filesystem/s/ops/ls', headers={'Authorization': 'Bearer tok-123456789'}
    )
    response = httpx.Response(401, request=request, json={'message': 'Access token is invalid.'})
    return UnexpectedStatusException([response], 200)


@pytest.mark.parametrize(
    'error',
    [
        _object_storage_error(),
        MultipartUploadException({}, f'Failed to upload part 1 to {PRESIGNED}'),
        httpx.ReadError(
            f'connection lost while reading {PRESIGNED}', request=httpx.Request('GET', PRESIGNED)
        ),
        _refused_token_error(),
    ],
    ids=['object-storage-status', 'multipart-upload', 'connection-lost', 'refused-token'],
)
def test_an_error_raised_to_the_user_carries_no_presigned_url_or_token(error: Exception) -> None:
    try:
        raise translated(error, '/remote/file')
    except OSError as raised:
        shown = str(raised) + ''.join(traceback.format_exception(raised))
    assert_no_credentials(shown, ['0123456789abcdef', 'AKIAEXAMPLE', 'tok-123456789'])


@pytest.mark.parametrize(
    ('text', 'hidden'),
    [
        ('HTTP Request: GET ' + PRESIGNED + ' "HTTP/1.1 200 OK"', ['0123456789abcdef', 'AKIAEXAMPLE']),
        ("headers=[(b'Authorization', b'Bearer eyJhbGciOi.eyJzdWIi.sig-part')]", ['eyJhbGciOi']),
        ('data=grant_type=client_credentials&client_id=c&client_secret=s3cr3t-value', ['s3cr3t-value']),
        ('{"access_token": "opaque-token-value", "expires_in": 300}', ['opaque-token-value']),
        ('part url ...?uploadId=1&X-Amz-Signature=feedbeef&partNumber=2', ['feedbeef']),
    ],
    ids=['presigned-url', 'bearer-header', 'form-secret', 'token-answer', 'bare-signature'],
)
def test_redact_hides_each_kind_of_credential(text: str, hidden: list[str]) -> None:
    safe = redact(text)
    assert [value for value in hidden if value in safe] == []
    assert REDACTED in safe


def test_records_of_every_level_and_child_logger_are_redacted(debug_logs: pytest.LogCaptureFixture) -> None:
    secret = 'a-remembered-client-secret'
    from aiida_firecrest.redaction import remember

    remember(secret)
    for name in ('httpcore.http11', 'aiida_firecrest.retries', 'firecrest.v2._async.Client', 'httpx'):
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logging.getLogger(name).log(level, 'sending %s to %s', secret, PRESIGNED)
        try:
            raise RuntimeError(f'failed with {secret}')
        except RuntimeError:
            logging.getLogger(name).exception('and a traceback')
    assert len(debug_logs.records) == 20
    assert_no_credentials(logged_text(debug_logs), [secret, '0123456789abcdef', 'AKIAEXAMPLE'])


def test_records_of_other_loggers_are_left_as_they_are(debug_logs: pytest.LogCaptureFixture) -> None:
    logging.getLogger('some.application').info('Bearer %s', 'kept-as-is')
    assert debug_logs.records[-1].getMessage() == 'Bearer kept-as-is'
