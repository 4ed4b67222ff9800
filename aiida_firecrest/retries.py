"""Bounded retries of HTTP requests, in one place: :class:`RetryingTransport`, an ``httpx`` transport wrapper.

429 and 503 always (honouring ``Retry-After``); other 5xx and lost connections only for idempotent
requests; a token the server refuses, once with a new one. A 429 (or a 503 with ``Retry-After``) holds
back every request of the process to that server (:mod:`.ratelimit`), not only the refused one.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from .ratelimit import RateLimitGate, gate_for
from .settings import MIB

__all__ = ('RetryPolicy', 'RetryingTransport', 'TokenSource', 'is_idempotent', 'parse_retry_after')

LOGGER = logging.getLogger(__name__)

#: Requests with these methods may be sent again after a server error or a lost connection.
IDEMPOTENT_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'})
#: POST endpoints whose repetition has the same effect as one call (they overwrite their target; v1's
#: ``/utilities/upload`` is ``cat >`` the target, as v2's ``ops/upload``).
IDEMPOTENT_POST_SUFFIXES = ('/ops/upload', '/utilities/upload', '/oauth2/token', '/token')
#: POST endpoints that may be repeated once the server has answered (its command is over), but not
#: after a lost connection or a timeout, when a first ``tar`` may still be writing the same archive
#: (v2's ``ops`` and v1's direct ``/utilities`` ones; v1's ``/storage/xfer-internal`` ones create jobs).
REPEATABLE_AFTER_ANSWER_SUFFIXES = (
    '/ops/compress',
    '/ops/extract',
    '/utilities/compress',
    '/utilities/extract',
)
#: Statuses of a request refused before any work: safe to repeat whatever the request.
REFUSED_STATUSES = frozenset({429, 503})
#: Statuses worth a retry for an idempotent request (besides the refused ones): the server may succeed
#: next time.
TRANSIENT_STATUSES = frozenset({500, 502, 504})
#: Messages of FirecREST 500s that repeat on every try: a failed remote command ("Is a directory",
#: "invalid mode", ...), a Slurm refusal, or a PBS command's failure ("Unknown Job Id" from qstat).
DETERMINISTIC_MESSAGES = ('Remote process failed', 'Unexpected Slurm command', 'Unexpected PBS ')
#: FirecREST's refusals of a token that a new token may cure (``OIDC_token_auth.py`` of firecrest-v2).
REFUSED_TOKEN_MESSAGES = (
    'Access token expires too soon',
    'Access token expired',
    'Access token is invalid',
    "Token's public key not found",
)
#: Bodies up to this size are buffered so that a request can be replayed.
MAX_REPLAYABLE_BODY = 64 * MIB


class RetryPolicy:
    """How often and how long to wait before sending a request again.

    :param max_retries: the most retries of one request (0 disables retries).
    :param backoff: the first backoff in seconds; doubled at every retry, with jitter.
    :param max_backoff: the longest backoff, and the cap on a server's ``Retry-After``.
    """

    def __init__(self, max_retries: int, backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.max_backoff = max_backoff

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        server_delay = parse_retry_after(retry_after)
        if server_delay is not None:
            return min(server_delay, self.max_backoff)
        exponential = self.backoff * 2.0**attempt
        return min(exponential * (0.75 + random.random() / 2), self.max_backoff)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds from now, or ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _closes_the_gate(response: httpx.Response) -> bool:
    """Whether an answer tells every request of the process to wait: a 429, or a 503 with ``Retry-After``
    (a proxy or a maintenance page says when the whole server is back; FirecREST's own 503 names none)."""
    return response.status_code == 429 or (response.status_code == 503 and 'retry-after' in response.headers)


def is_idempotent(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice has the same effect as sending it once.

    Transfer and compute POSTs create jobs (a repeat would copy twice or submit twice), and
    ``ops/symlink`` or a plain ``ops/mkdir`` would fail with "File exists" on a repeat: none of them is
    retried once the server may have seen them. ``ops/mkdir`` with ``parent`` (v1: ``/utilities/mkdir``
    with a ``p`` field, whatever its value) is ``mkdir -p``, which may be repeated.
    """
    if request.method in IDEMPOTENT_METHODS:
        return True
    if request.method != 'POST':
        return False
    path = request.url.path.rstrip('/')
    if path.endswith('/ops/mkdir'):
        return _creates_parents(request)
    if path.endswith('/utilities/mkdir'):
        return _form_has(request, 'p')
    return path.endswith(IDEMPOTENT_POST_SUFFIXES)


def _creates_parents(request: httpx.Request) -> bool:
    try:
        body = json.loads(request.content)
    except (httpx.RequestNotRead, ValueError):
        return False
    return isinstance(body, dict) and body.get('parent') is True


def _form_has(request: httpx.Request, field: str) -> bool:
    """Whether a form-encoded request body has ``field`` (FirecREST v1 reads some flags by presence)."""
    try:
        return field in urllib.parse.parse_qs(request.content.decode())
    except (httpx.RequestNotRead, UnicodeDecodeError):
        return False


class TokenSource(Protocol):
    """What :class:`RetryingTransport` needs of the authorization: headers, and forgetting a refused token."""

    async def auth_headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class RetryingTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that retries what is safe to retry, with bounded backoff.

    * 429 and 503: the server refused without doing anything (a rate limit; FirecREST's health checks
      answer 503 before any command), so any request is retried, after ``Retry-After`` (capped); a 429,
      or a 503 with ``Retry-After``, also closes the process's gate for that server
      (:class:`.ratelimit.RateLimitGate`): every other request waits, one probe per ``Retry-After``
      period, then they go, jittered;
    * a connection that could not be established: retried for any request;
    * 5xx, a dropped connection, a read timeout: retried only for idempotent requests
      (:func:`is_idempotent`) whose body can be sent again; server-side ``compress`` / ``extract``
      are retried after a 5xx answer only (never while a first ``tar`` may still be running);
    * 401 for a refused token (expired, expiring too soon, invalid or signed by a key the server no
      longer has: a token shared by the process's clients, keys rotated): retried once with a new token.

    A retried request carries a fresh ``Authorization`` header, so that a long series of retries never
    sends a token the server considers too close to expiry.

    :param inner: the transport that sends the requests.
    :param policy: the retry limits.
    :param sleep: the coroutine used to wait (replaceable in tests).
    :param auth: the token source of requests that carry an ``Authorization`` header, if any.
    :param gates: the rate-limit gate of a request's server (by default the process's, shared by all clients).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
        auth: TokenSource | None = None,
        gates: Callable[[httpx.URL], RateLimitGate] = gate_for,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._auth = auth
        self._gates = gates

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate = self._gates(request.url)
        ticket = object()  # this request, through its retries, at the gate
        try:
            return await self._send_with_retries(request, gate, ticket)
        finally:
            gate.release(ticket)

    async def _send_with_retries(
        self, request: httpx.Request, gate: RateLimitGate, ticket: object
    ) -> httpx.Response:
        replayable = await _make_replayable(request)
        retry_on_failure = replayable and is_idempotent(request)
        retry_on_answer = retry_on_failure or (replayable and _repeatable_after_answer(request))
        auth = self._auth if 'authorization' in request.headers else None
        attempt = 0
        reauthorized = False
        while True:
            await self._pass_gate(gate, ticket, request)
            if attempt and auth is not None:
                request.headers.update(await auth.auth_headers())
            sent_at = gate.clock()
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if not replayable or attempt >= self._policy.max_retries:
                    raise
                reason = f'{type(exc).__name__}'
                delay = self._policy.delay(attempt)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ReadTimeout) as exc:
                if not retry_on_failure or attempt >= self._policy.max_retries:
                    raise
                reason = f'{type(exc).__name__}'
                delay = self._policy.delay(attempt)
            else:
                if _closes_the_gate(response):
                    delay = self._policy.delay(attempt, response.headers.get('retry-after'))
                    probe = gate.refused(ticket, delay)
                    if attempt >= self._policy.max_retries:
                        return response
                    await response.aclose()
                    LOGGER.info(
                        'FirecREST request %s %s: status %d, retry %d/%d %s',
                        request.method,
                        request.url.path,
                        response.status_code,
                        attempt + 1,
                        self._policy.max_retries,
                        f'in {delay:.1f} s' if probe else 'when the server accepts requests again',
                    )
                    if probe:
                        await self._sleep(delay)
                    attempt += 1
                    continue
                gate.answered(sent_at)
                if auth is not None and replayable and not reauthorized and await is_refused_token(response):
                    LOGGER.info('FirecREST refused the token for %s; renewing it', request.url.path)
                    auth.invalidate()
                    reauthorized = True
                    await response.aclose()
                    attempt += 1
                    continue
                retry = response.status_code in REFUSED_STATUSES or (
                    retry_on_answer and await is_transient(response)
                )
                if not retry or attempt >= self._policy.max_retries:
                    return response
                reason = f'status {response.status_code}'
                delay = self._policy.delay(attempt, response.headers.get('retry-after'))
                await response.aclose()
            LOGGER.info(
                'FirecREST request %s %s: %s, retry %d/%d in %.1f s',
                request.method,
                request.url.path,
                reason,
                attempt + 1,
                self._policy.max_retries,
                delay,
            )
            await self._sleep(delay)
            attempt += 1

    async def _pass_gate(self, gate: RateLimitGate, ticket: object, request: httpx.Request) -> None:
        """Wait while the server's gate is closed; after the longest backoff of all retries, go anyway
        (the server's answer decides)."""
        waited, limit = 0.0, self._policy.max_backoff * (self._policy.max_retries + 1)
        while waited < limit:
            delay = gate.admission(ticket)
            if delay <= 0:
                return
            if not waited:
                LOGGER.debug(
                    'FirecREST request %s %s waits: the server refused requests with 429 or 503',
                    request.method,
                    request.url.path,
                )
            delay = min(delay, limit - waited)
            await self._sleep(delay)
            waited += delay

    async def aclose(self) -> None:
        await self._inner.aclose()


async def is_refused_token(response: httpx.Response) -> bool:
    """Whether the server refused the request's token (expired, expiring too soon or invalid), so that
    a new token may succeed. Other 401 answers (a client not allowed) would fail again."""
    if response.status_code != 401:
        return False
    await response.aread()
    return any(message in response.text for message in REFUSED_TOKEN_MESSAGES)


async def is_transient(response: httpx.Response) -> bool:
    """Whether a server error may go away on a retry (not a remote command's deterministic failure)."""
    if response.status_code not in TRANSIENT_STATUSES:
        return False
    if response.status_code != 500:
        return True
    await response.aread()
    return not any(message in response.text for message in DETERMINISTIC_MESSAGES)


def _repeatable_after_answer(request: httpx.Request) -> bool:
    path = request.url.path.rstrip('/')
    return request.method == 'POST' and path.endswith(REPEATABLE_AFTER_ANSWER_SUFFIXES)


async def _make_replayable(request: httpx.Request) -> bool:
    """Buffer a small streamed body (a multipart upload) so the request can be sent again."""
    if isinstance(request.stream, httpx.ByteStream):
        return True
    length = request.headers.get('content-length')
    if length is not None and length.isdigit() and int(length) <= MAX_REPLAYABLE_BODY:
        await request.aread()
        return True
    return False
