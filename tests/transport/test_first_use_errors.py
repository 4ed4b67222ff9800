"""A misconfigured computer fails at its first operation with one line saying what is wrong and what to do.

Each case configures the transport against the session's server with one mistake and checks that the first
operation (``path_exists``, which would otherwise answer a silent ``False``) raises one exception whose
message is a single line, with no ``httpx`` representation in it and neither the secret nor a token
anywhere in the exception chain.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiida_firecrest.errors import FirecrestConfigError
from aiida_firecrest.secrets import resolve_secret
from aiida_firecrest.transport import FirecrestTransport

from ..config.conftest import h5_tls_url  # noqa: F401 (an HTTPS server with an untrusted certificate)
from .conftest import run_with_transport


def refused_url() -> str:
    """A local URL on which nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}'


class WebPage(http.server.BaseHTTPRequestHandler):
    """A web server that is not the API: every request gets an HTML "404 Not Found" page."""

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        self.send_error(404)

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads the client's error, not this server's log."""


@pytest.fixture(scope='module')
def web_page_url() -> Iterator[str]:
    """A URL that is wrong for any FirecREST server: a plain web server answering 404 pages.

    (A wrong path on the FirecREST server itself is no such URL: a real server answers any unknown
    path with its own JSON 404, as it answers a missing file.)
    """
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), WebPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/api'
    server.shutdown()
    server.server_close()


def mistakes(
    params: dict[str, Any], wrong_secret: str, untrusted: str, web_page: str
) -> dict[str, tuple[dict[str, Any], type, str]]:
    """``{case: (overrides, expected exception type, expected text)}``."""
    url, token_uri = params['url'].rstrip('/'), params['token_uri']
    refused = refused_url()
    https = url.replace('http://', 'https://')
    return {
        'wrong URL': (
            {'url': web_page},
            FirecrestConfigError,
            f'{web_page} does not serve the FirecREST v2 API',
        ),
        'wrong path on the FirecREST server': (
            {'url': f'{url}/wrong'},
            FirecrestConfigError,
            f'{url}/wrong does not serve the FirecREST v2 API',
        ),
        'refused port': (
            {'url': refused, 'token_uri': f'{refused}/oauth2/token'},
            ConnectionError,
            'the connection was refused',
        ),
        'refused FirecREST port (token URI fine)': (
            {'url': refused},
            ConnectionError,
            f'Cannot reach {refused}: the connection was refused',
        ),
        'unresolvable host name': (
            {'url': 'http://firecrest.invalid/v2', 'token_uri': 'http://firecrest.invalid/token'},
            ConnectionError,
            'the host name cannot be resolved',
        ),
        'https to a plain-http server': (
            {'url': https, 'token_uri': token_uri.replace('http://', 'https://')},
            ConnectionError,
            'TLS handshake',
        ),
        'untrusted certificate': (
            {'url': untrusted, 'token_uri': f'{untrusted}/token'},
            ConnectionError,
            'could not be verified. If the centre uses its own certificate authority, set SSL_CERT_FILE',
        ),
        'wrong secret': ({'client_secret': wrong_secret}, PermissionError, 'refused client id'),
        'token URI not OAuth2': (
            {'token_uri': f'{url}/status/systems'},
            FirecrestConfigError,
            'is not an OAuth2 token endpoint',
        ),
        'unknown system': ({'compute_resource': 'nosuch'}, FirecrestConfigError, "no system 'nosuch'"),
    }


CASES = list(mistakes({'url': 'http://x', 'token_uri': 'http://x/t'}, '', '', ''))


async def first_use(transport: FirecrestTransport, home: str, tokens: list[str]) -> BaseException:
    """The error of the first operation; also collects the token the client got, if it got one."""
    try:
        await transport.path_exists_async(home)
    except Exception as exc:
        with contextlib.suppress(OSError):
            tokens.append((await transport.client.auth.auth_headers())['Authorization'].split()[-1])
        return exc
    raise AssertionError('the first operation succeeded')


@pytest.mark.parametrize('case', CASES)
def test_a_misconfiguration_gives_one_clear_line_at_first_use(
    case: str,
    transport_params: dict[str, Any],
    firecrest_server: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if case == 'https to a plain-http server' and not transport_params['url'].startswith('http://'):
        pytest.skip('the server under test is not served over plain http')
    wrong_secret = tmp_path / 'wrong-secret'
    wrong_secret.write_text('not-the-secret')
    overrides, expected_type, expected_text = mistakes(
        transport_params,
        str(wrong_secret),
        request.getfixturevalue('h5_tls_url'),
        request.getfixturevalue('web_page_url'),
    )[case]
    tokens: list[str] = []

    error = run_with_transport(
        transport_params,
        lambda t: first_use(t, firecrest_server.config['workdir'], tokens),
        max_retries=0,
        **overrides,
    )

    message = str(error)
    assert isinstance(error, expected_type), f'{type(error).__name__}: {message}'
    assert expected_text in message
    assert '\n' not in message
    assert 'Error(' not in message and 'Exception(' not in message
    everything = ''.join(traceback.format_exception(error))
    for secret in (resolve_secret(transport_params['client_secret']), 'not-the-secret', *tokens):
        assert secret not in everything
