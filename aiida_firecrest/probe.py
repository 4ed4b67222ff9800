"""Checks of a FirecREST v2 server at configuration time, and the one-line messages for what can go wrong.

:class:`FirecrestProbe` asks a server the few questions ``verdi computer configure firecrest`` needs answered
(is it reachable, is the token URI an OAuth2 endpoint, are the credentials right, which systems, accounts and
file systems are there, can the temporary directory be created), with a plain synchronous ``httpx`` client and
short timeouts. Every failure becomes a :class:`ProbeError` whose message says what is wrong and what to do,
in one line, without the secret or a token.

The message builders (:func:`explain_http_error` for connection and certificate problems,
:func:`token_error_message` for a failed token request, :func:`token_rejected_message`,
:func:`unknown_system_message`, :func:`unknown_account_message`, :func:`api_version_problem`) are public so
that the transport's client gives the same messages when a problem shows up at first use.
"""

from __future__ import annotations

import errno
import posixpath
import re
import secrets
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
"""Configuration-time checks wait at most this long for an answer."""

MIN_API_VERSION: tuple[int, ...] = (2, 2, 8)
"""The oldest FirecREST API this plugin supports (``ls`` with ``dereference`` arrived in 2.2.8)."""

PROBE_CLIENT_ID = 'aiida-firecrest-configuration-check'
"""Client id of the deliberately invalid request that tells an OAuth2 token endpoint from anything else."""


class ProbeError(Exception):
    """A configuration problem, with a one-line message that says what is wrong and what to do."""


class ServerUnreachableError(ProbeError):
    """No answer at all (name resolution, refused connection, timeout): the value may still be right."""


class CredentialsRefusedError(ProbeError):
    """The token endpoint refused the client id and secret (an OAuth2 error answer)."""


class V1ServerError(ProbeError):
    """``GET /status/systems`` was answered in FirecREST v1's shape: the server is v1, not v2."""


# --- message builders (also used by the transport at first use)


def _tls_problem(exc: BaseException) -> BaseException | None:
    """The TLS error behind ``exc`` (itself or an exception it was raised from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or 'CERTIFICATE_VERIFY_FAILED' in str(seen):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _specific_reason(exc: BaseException) -> str | None:
    """The reason ``exc`` names, if it is a well-known one."""
    text = str(exc)
    number = getattr(exc, 'errno', None)
    if 'Name or service not known' in text or 'nodename nor servname' in text or number in {-2, -3, -5}:
        return 'the host name cannot be resolved'
    if isinstance(exc, ConnectionRefusedError) or number == errno.ECONNREFUSED or 'refused' in text.lower():
        return 'the connection was refused'
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) or 'timed out' in text.lower():
        return 'no answer in time'
    if number == errno.ENETUNREACH or number == errno.EHOSTUNREACH:
        return 'the network or host is unreachable'
    return None


def _connection_reason(exc: BaseException) -> str:
    """A short, readable reason for a failed connection, from ``exc`` or the errors it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        reason = _specific_reason(seen)
        if reason:
            return reason
        seen = seen.__cause__ or seen.__context__
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r'^\[Errno -?\d+\]\s*', '', first_line)


def explain_http_error(exc: BaseException, url: str) -> ProbeError | None:
    """Translate a connection-level exception (httpx, requests, ssl, OSError) into a :class:`ProbeError`.

    :param exc: the exception raised while talking to ``url``.
    :param url: the URL that was being contacted (the server or the token URI).
    :return: a :class:`ServerUnreachableError` or :class:`ProbeError` with a one-line message, or None if
        ``exc`` is not a connection problem.
    """
    tls = _tls_problem(exc)
    if tls is not None:
        host = urlsplit(url).netloc or url
        if isinstance(tls, ssl.SSLCertVerificationError) or 'CERTIFICATE_VERIFY_FAILED' in str(tls):
            return ProbeError(
                f'The TLS certificate of {host} could not be verified. If the centre uses its own '
                'certificate authority, set SSL_CERT_FILE to its CA bundle; otherwise check the URL.'
            )
        reason = getattr(tls, 'reason', None) or type(tls).__name__
        return ProbeError(f'The TLS handshake with {host} failed ({reason}); check the URL (https or http?).')
    connection_errors: tuple[type[BaseException], ...] = (httpx.TransportError, ConnectionError, TimeoutError)
    try:
        import requests

        connection_errors += (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    except ImportError:  # pragma: no cover - requests comes with pyfirecrest
        pass
    if isinstance(exc, connection_errors):
        return ServerUnreachableError(
            f'Cannot reach {url}: {_connection_reason(exc)}. Check the URL and your network (VPN, proxy).'
        )
    return None


def wrong_credentials_message(token_uri: str, client_id: str) -> str:
    """The message for a token endpoint that refuses the client id and secret."""
    return (
        f'The token endpoint {token_uri} refused client id {client_id!r} and its secret: check both '
        "(at CSCS: the application's Consumer Key and Consumer Secret on developer.cscs.ch)."
    )


def not_oauth2_message(token_uri: str, status: int, content_type: str) -> str:
    """The message for a token URI whose answer is not an OAuth2 token endpoint's."""
    kind = content_type.split(';')[0].strip() or 'no content type'
    return (
        f'{token_uri} is not an OAuth2 token endpoint (it answered HTTP {status}, {kind}); '
        'use the token URL of the identity provider, typically ending in /token.'
    )


def token_error_message(token_uri: str, client_id: str, response: httpx.Response) -> str:
    """The message for a token request that did not give a token: wrong credentials, or not OAuth2 at all."""
    if is_oauth2_answer(response):
        return wrong_credentials_message(token_uri, client_id)
    return not_oauth2_message(token_uri, response.status_code, response.headers.get('content-type', ''))


def token_rejected_message(url: str, message: str) -> str:
    """The message for a FirecREST server that refuses a freshly issued token."""
    return (
        f'FirecREST at {url} refused the access token from the token endpoint ({message}): '
        'check that the URL and the token URI belong to the same centre and that the client is '
        'subscribed to FirecREST.'
    )


def not_firecrest_message(url: str, detail: str) -> str:
    """The message for a URL that does not serve the FirecREST v2 API."""
    return f'{url} does not serve the FirecREST v2 API ({detail}); check the URL (it usually ends in /v2).'


def unknown_system_message(system: str, available: list[str]) -> str:
    """The message for a system name the server does not know."""
    names = ', '.join(available) or 'none'
    return f'The FirecREST server has no system {system!r}; available systems: {names}.'


def unknown_account_message(account: str, system: str, accounts: list[str]) -> str:
    """The message for a billing account the user does not have on ``system``."""
    names = ', '.join(accounts) or 'none'
    return (
        f'You have no account {account!r} on {system}; your accounts: {names} '
        '(leave it empty to use your default account).'
    )


def parse_api_version(header: str | None) -> tuple[int, ...] | None:
    """The numeric parts of an ``f7t-appversion`` header, leniently: ``'2.x.x'`` gives ``(2,)``, junk None."""
    if not header:
        return None
    parts = []
    for part in header.strip().lstrip('vV').split('.'):
        match = re.match(r'\d+', part)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts) or None


def api_version_problem(header: str | None) -> str | None:
    """A message if the server's ``f7t-appversion`` is older than :data:`MIN_API_VERSION`, else None.

    An absent or unparseable version is not a problem (development servers send ``2.x.x``); only the parts the
    server states are compared, so ``2.x.x`` is accepted as any 2.x.
    """
    version = parse_api_version(header)
    if version is None:
        return None
    if version < MIN_API_VERSION[: len(version)]:
        minimum = '.'.join(map(str, MIN_API_VERSION))
        return (
            f'The FirecREST server runs API version {header}, older than {minimum} which this plugin needs; '
            'ask the centre to upgrade or use an older aiida-firecrest.'
        )
    return None


def answer_message(response: httpx.Response) -> str | None:
    """The ``message`` of a FirecREST error body as it is, None if the answer has none (or a blank one)."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get('message') if isinstance(body, dict) else None
    return message if isinstance(message, str) and message.strip() else None


def _error_message(response: httpx.Response) -> str:
    """The first line of a FirecREST error body's message (without the remote-process preamble), or the
    status line."""
    message = answer_message(response)
    if message is None:
        return f'HTTP {response.status_code}'
    first_line = message.strip().splitlines()[0]
    return re.sub(r'^Remote process failed with exit status:\d+ and error message:', '', first_line).strip()


# --- the probe


class FirecrestProbe:
    """Synchronous questions to one FirecREST v2 server; every failure raises a :class:`ProbeError`.

    The access token stays in this object (never in a message or a log line) and is dropped with it.
    """

    def __init__(
        self, url: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT, http: httpx.Client | None = None
    ):
        self.url = url.rstrip('/')
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self._token: str | None = None
        self.api_version: str | None = None
        """The server's ``f7t-appversion`` header, read by :meth:`systems`."""

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.url!r})'

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> FirecrestProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, url: str, *, shown_as: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request; connection problems become :class:`ProbeError` naming ``shown_as`` (or ``url``)."""
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.InvalidURL as exc:
            raise ProbeError(f'{shown_as or url} is not a valid URL: {exc}') from exc
        except httpx.HTTPError as exc:
            problem = explain_http_error(exc, shown_as or url)
            if problem is None:
                raise ProbeError(f'Request to {shown_as or url} failed: {_connection_reason(exc)}.') from exc
            raise problem from exc

    def check_reachable(self) -> None:
        """Check that the server answers at all (no token needed); any HTTP status is fine.

        :calls: GET ``/status/liveness/``
        """
        self._send('GET', f'{self.url}/status/liveness/', shown_as=self.url)

    def authenticate(self, token_uri: str, client_id: str, client_secret: str) -> None:
        """Obtain an access token with the client-credentials grant and keep it for the next requests."""
        response = self._send('POST', token_uri, data=token_request(client_id, client_secret))
        body = json_object(response)
        if response.status_code == 200 and isinstance(body.get('access_token'), str):
            self._token = body['access_token']
            return
        error = CredentialsRefusedError if is_oauth2_answer(response) else ProbeError
        raise error(token_error_message(token_uri, client_id, response))

    def _auth(self) -> dict[str, str]:
        """The ``Authorization`` header once a token was obtained."""
        return {'Authorization': f'Bearer {self._token}'} if self._token else {}

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send('GET', f'{self.url}{path}', shown_as=self.url, headers=self._auth(), **kwargs)
        if response.status_code == 401:
            raise ProbeError(token_rejected_message(self.url, _error_message(response)))
        return response

    def systems(self) -> list[dict[str, Any]]:
        """The server's systems, each with its ``dataOperation`` (:func:`systems_of`); also reads and checks
        the API version.

        :calls: GET ``/status/systems``
        """
        response = self._get('/status/systems')
        body = json_object(response)
        if response.status_code == 200 and is_v1_systems_answer(body):
            raise V1ServerError(
                f'{self.url} serves the FirecREST v1 API, not v2: use --api-version 1 or auto '
                '(or the v2 URL, which usually ends in /v2).'
            )
        if response.status_code != 200 or not isinstance(body.get('systems'), list):
            detail = f'GET /status/systems answered HTTP {response.status_code}'
            raise ProbeError(not_firecrest_message(self.url, detail))
        self.api_version = response.headers.get('f7t-appversion')
        problem = api_version_problem(self.api_version)
        if problem:
            raise ProbeError(problem)
        return systems_of(body)

    def userinfo(self, system: str) -> dict[str, Any]:
        """The user's name, groups and accounts on ``system``.

        :calls: GET ``/status/{system}/userinfo``
        """
        response = self._get(f'/status/{system}/userinfo')
        if response.status_code != 200:
            raise ProbeError(f'Cannot read your user information on {system}: {_error_message(response)}.')
        return json_object(response)

    def make_directory(self, system: str, path: str) -> None:
        """Create directory ``path`` and its parents on ``system``; an existing directory is left as it is.

        :calls: POST ``/filesystem/{system}/ops/mkdir``
        """
        body = {'sourcePath': path, 'parent': True}
        url = f'{self.url}/filesystem/{system}/ops/mkdir'
        response = self._send('POST', url, shown_as=self.url, json=body, headers=self._auth())
        if response.status_code == 201:
            return
        message = _error_message(response)
        if 'File exists' in message:
            raise ProbeError(f'{path} exists on {system} and is not a directory; choose another path.')
        raise ProbeError(f'Cannot create the directory {path} on {system}: {message}')

    def check_writable(self, system: str, directory: str) -> None:
        """Check that files can be written in ``directory``: upload a 1-byte file, then remove it.

        :calls: POST ``/filesystem/{system}/ops/upload``, DELETE ``/filesystem/{system}/ops/rm``
        """
        name = f'.aiida-firecrest-write-check-{secrets.token_hex(4)}'
        base = f'{self.url}/filesystem/{system}/ops'
        response = self._send(
            'POST', f'{base}/upload', shown_as=self.url, params={'path': directory},
            files={'file': (name, b'x')}, headers=self._auth(),
        )  # fmt: skip
        if response.status_code not in {200, 201, 204}:
            raise ProbeError(f'Cannot write in {directory} on {system}: {_error_message(response)}')
        self._send(
            'DELETE', f'{base}/rm', shown_as=self.url, params={'path': posixpath.join(directory, name)},
            headers=self._auth(),
        )  # fmt: skip


def check_token_endpoint(token_uri: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
    """Check that ``token_uri`` is an OAuth2 token endpoint: a made-up client must get an OAuth2 error.

    The request carries a made-up client id (:data:`PROBE_CLIENT_ID`), never the user's credentials.

    :raises ProbeError: if it is not an OAuth2 token endpoint or cannot be reached.
    """
    with FirecrestProbe(token_uri, timeout=timeout) as probe:
        response = probe._send('POST', token_uri, data=token_request(PROBE_CLIENT_ID, 'invalid'))
    if not is_oauth2_answer(response):
        content_type = response.headers.get('content-type', '')
        raise ProbeError(not_oauth2_message(token_uri, response.status_code, content_type))


def token_request(client_id: str, client_secret: str) -> dict[str, str]:
    """The form of an OAuth2 client-credentials token request (the body of ``POST <token_uri>``)."""
    return {'grant_type': 'client_credentials', 'client_id': client_id, 'client_secret': client_secret}


def max_ops_file_size(system: Mapping[str, Any]) -> int | None:
    """A system's limit for direct uploads and downloads (``dataOperation.max_ops_file_size``), if it says.

    :param system: the system's entry of ``GET /status/systems`` (as :func:`systems_of` gives it).
    """
    operation = system.get('dataOperation') or {}
    value = operation.get('max_ops_file_size') or operation.get('maxOpsFileSize')
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size > 0 else None


def systems_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The systems of a ``GET /status/systems`` answer, each with its ``dataOperation``.

    Since 2.5.0 each system describes its own; before, one description beside the systems held for all:
    ``dataOperation`` (2.3.1-2.4.x) or ``storage`` (the S3 settings and ``max_ops_file_size``).
    """
    shared = answer.get('dataOperation')
    storage = answer.get('storage')
    if not isinstance(shared, dict) and isinstance(storage, dict):
        shared = {
            'max_ops_file_size': storage.get('max_ops_file_size'),
            'data_transfer': {'serviceType': 's3'},
        }
    systems = [system for system in answer.get('systems') or [] if isinstance(system, dict)]
    if not isinstance(shared, dict):
        return systems
    return [
        system if 'dataOperation' in system else {**system, 'dataOperation': shared} for system in systems
    ]


def is_v1_systems_answer(body: dict[str, Any]) -> bool:
    """Whether a ``GET /status/systems`` answer is FirecREST v1's: an ``out`` list of ``{"system": ...}``."""
    out = body.get('out')
    return 'systems' not in body and isinstance(out, list) and all(isinstance(s, dict) for s in out)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body if it is a JSON object, else an empty dict."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_oauth2_answer(response: httpx.Response) -> bool:
    """Whether the answer is an OAuth2 token endpoint's (RFC 6749 5.1/5.2): a token or an error code.

    A 401 with a ``WWW-Authenticate`` challenge also counts (endpoints that want HTTP Basic client auth).
    """
    body = json_object(response)
    if response.status_code == 200:
        return isinstance(body.get('access_token'), str)
    if response.status_code == 401 and 'www-authenticate' in response.headers:
        return True
    return response.status_code in {400, 401, 403} and isinstance(body.get('error'), str)
