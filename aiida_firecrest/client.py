"""The one place that speaks HTTP to a FirecREST v2 server.

:class:`FirecrestClient` wraps a configured ``firecrest.v2.AsyncFirecrest`` and owns every HTTP
concern, so that the transport and the scheduler only see Python values and built-in exceptions:

* authorization: :class:`ClientCredentialsAuth` fetches OAuth2 client-credentials tokens without
  blocking the event loop and renews them well before the server's "expires too soon" limit;
* an explicit timeout on every request;
* bounded retries in one place, :class:`RetryingTransport` (an ``httpx`` transport wrapper):
  429 always (honouring ``Retry-After``), 5xx and lost connections only for idempotent requests;
* progress of staged transfers, :func:`report_progress`: bytes counted in the object-storage
  requests (:class:`ProgressCountingTransport`) and the transfer job's states, logged at a bounded rate;
* one error translation, :func:`translate_errors` / :func:`to_os_error`, from FirecREST's answers
  (status code and JSON ``message``) and ``httpx`` errors to ``OSError`` subclasses with an errno;
  problems of the configuration itself (unreachable server, certificate, credentials, a token URI
  or URL that is not what it should be, an unknown system, a server too old) become one-line
  messages saying what to do, built by :mod:`.probe` as at configuration time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import email.utils
import errno
import hashlib
import logging
import posixpath
import random
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
from firecrest import FirecrestException
from firecrest.FirecrestException import (
    JobTimeoutException,
    MultipartUploadException,
    TransferJobFailedException,
    UnexpectedStatusException,
)
from firecrest.utilities import sched_state_completed
from firecrest.v2 import AsyncFirecrest
from firecrest.v2._async.Client import AsyncExternalUpload
from packaging.version import Version

from .probe import (
    api_version_problem,
    explain_http_error,
    is_oauth2_answer,
    json_object,
    max_ops_file_size,
    not_firecrest_message,
    systems_of,
    token_error_message,
    token_rejected_message,
    token_request,
    unknown_system_message,
)
from .secrets import resolve_secret
from .settings import MIB, TransportConfig

__all__ = (
    'ClientCredentialsAuth',
    'FirecrestClient',
    'FirecrestConfigError',
    'JobState',
    'ProgressCountingTransport',
    'RetryPolicy',
    'RetryingTransport',
    'TokenCache',
    'TransferJobError',
    'TransferProgress',
    'clear_server_facts',
    'report_progress',
    'to_os_error',
    'translate_errors',
)

LOGGER = logging.getLogger(__name__)

#: Requests with these methods may be sent again after a server error or a lost connection.
IDEMPOTENT_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'})
#: POST endpoints whose repetition has the same effect as one call (they overwrite their target).
IDEMPOTENT_POST_SUFFIXES = ('/ops/upload', '/oauth2/token', '/token')
#: POST endpoints that may be repeated once the server has answered (its command is over), but not
#: after a lost connection or a timeout, when a first ``tar`` may still be writing the same archive.
REPEATABLE_AFTER_ANSWER_SUFFIXES = ('/ops/compress', '/ops/extract')
#: Statuses worth a retry for an idempotent request: the server may succeed next time.
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
#: Messages of FirecREST 500s that repeat on every try: a failed remote command ("Is a directory",
#: "invalid mode", ...), a Slurm refusal, or a PBS command's failure ("Unknown Job Id" from qstat).
DETERMINISTIC_MESSAGES = ('Remote process failed', 'Unexpected Slurm command', 'Unexpected PBS ')
#: Bodies up to this size are buffered so that a request can be replayed.
MAX_REPLAYABLE_BODY = 64 * MIB


# --------------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------------


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
        exponential = self.backoff * (2**attempt)
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


def is_idempotent(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice has the same effect as sending it once.

    Transfer and compute POSTs create jobs (a repeat would copy twice or submit twice), and
    ``ops/mkdir`` / ``ops/symlink`` would fail with "File exists" on a repeat: none of them is retried
    once the server may have seen them.
    """
    if request.method in IDEMPOTENT_METHODS:
        return True
    return request.method == 'POST' and request.url.path.rstrip('/').endswith(IDEMPOTENT_POST_SUFFIXES)


class TokenSource(Protocol):
    """What :class:`RetryingTransport` needs of the authorization: headers, and forgetting a refused token."""

    async def auth_headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class RetryingTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that retries what is safe to retry, with bounded backoff.

    * 429: the server refused without doing anything, so any request is retried after its
      ``Retry-After`` (capped);
    * a connection that could not be established: retried for any request;
    * 5xx, a dropped connection, a read timeout: retried only for idempotent requests
      (:func:`is_idempotent`) whose body can be sent again; server-side ``compress`` / ``extract``
      are retried after a 5xx answer only (never while a first ``tar`` may still be running);
    * 401 for an expired token (clock skew): retried once with a new token.

    A retried request carries a fresh ``Authorization`` header, so that a long series of retries never
    sends a token the server considers too close to expiry.

    :param inner: the transport that sends the requests.
    :param policy: the retry limits.
    :param sleep: the coroutine used to wait (replaceable in tests).
    :param auth: the token source of requests that carry an ``Authorization`` header, if any.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
        auth: TokenSource | None = None,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._auth = auth

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        replayable = await _make_replayable(request)
        retry_on_failure = replayable and is_idempotent(request)
        retry_on_answer = retry_on_failure or (replayable and _repeatable_after_answer(request))
        auth = self._auth if 'authorization' in request.headers else None
        attempt = 0
        reauthorized = False
        while True:
            if attempt and auth is not None:
                request.headers.update(await auth.auth_headers())
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
                if auth is not None and replayable and not reauthorized and await is_expired_token(response):
                    LOGGER.info('FirecREST refused an expiring token for %s; renewing it', request.url.path)
                    auth.invalidate()
                    reauthorized = True
                    await response.aclose()
                    attempt += 1
                    continue
                retry = response.status_code == 429 or (retry_on_answer and await is_transient(response))
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

    async def aclose(self) -> None:
        await self._inner.aclose()


async def is_expired_token(response: httpx.Response) -> bool:
    """Whether the server refused the request's token as expired or expiring too soon."""
    if response.status_code != 401:
        return False
    await response.aread()
    return 'expire' in response.text.lower()


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


# --------------------------------------------------------------------------------------------------
# Progress of staged transfers
# --------------------------------------------------------------------------------------------------


class TransferProgress:
    """Reports to a logger how far one staged transfer has come, at a bounded rate, without requests.

    Bytes are counted in the object-storage requests the transfer sends anyway
    (:class:`ProgressCountingTransport`); the server's transfer job is followed through the answers
    pyfirecrest's wait for it already receives.

    * Bytes: a report needs both ``interval`` seconds and ``step`` of the total since the previous
      one (whichever is rarer: at most ``1 / step`` reports, at most one per ``interval``); the last
      byte is always reported. A transfer faster than ``interval`` thus logs only its completion.
    * Transfer job: a report when its state changes, or after ``job_interval`` seconds in one state.

    :param logger: where the reports go (the transport's AiiDA logger), at INFO level.
    :param label: what is moving, e.g. ``Upload of /local/file to /remote/file``.
    :param total: the number of bytes to move, if known (a download learns it from ``Content-Length``).
    :param clock: a monotonic clock (replaceable in tests).
    """

    interval = 10.0
    step = 0.1
    job_interval = 60.0

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter,
        label: str,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.moved = 0
        self._logger = logger
        self._clock = clock
        self._positions: dict[str, int] = {}
        self._reported = 0
        self._reported_at = clock()
        self._job: tuple[str, str] | None = None
        self._job_reported_at = 0.0

    def expect(self, total: int) -> None:
        """Learn the total number of bytes, if it was not known."""
        if self.total is None:
            self.total = total

    def reached(self, key: str, position: int) -> None:
        """Request ``key`` has moved its first ``position`` bytes (a retry adds only what goes beyond)."""
        gained = position - self._positions.get(key, 0)
        if gained <= 0:
            return
        self._positions[key] = position
        self.moved += gained
        if self._report_due():
            self._reported, self._reported_at = self.moved, self._clock()
            if self.total:
                percent = 100 * self.moved / self.total
                self._logger.info('%s: %d of %d bytes (%.0f %%)', self.label, self.moved, self.total, percent)
            else:
                self._logger.info('%s: %d bytes so far', self.label, self.moved)

    def _report_due(self) -> bool:
        if self.total is not None and self.moved >= self.total:
            return self._reported < self.total
        if self._clock() - self._reported_at < self.interval:
            return False
        return self.total is None or self.moved - self._reported >= self.step * self.total

    def job_state(self, job_id: str, state: str) -> None:
        """The server's transfer job ``job_id`` was seen in ``state``."""
        now = self._clock()
        if self._job == (job_id, state) and now - self._job_reported_at < self.job_interval:
            return
        self._job, self._job_reported_at = (job_id, state), now
        self._logger.info("%s: the server's transfer job %s is %s", self.label, job_id, state)


#: The progress report of the staged transfer running in this context, if any.
_PROGRESS: contextvars.ContextVar[TransferProgress | None] = contextvars.ContextVar(
    'aiida_firecrest_progress', default=None
)


@contextlib.contextmanager
def report_progress(
    logger: logging.Logger | logging.LoggerAdapter, label: str, total: int | None = None
) -> Iterator[TransferProgress]:
    """Within this block, the object-storage bytes and transfer-job states of this task are reported.

    :param logger: where the reports go.
    :param label: what is moving.
    :param total: the number of bytes to move, if known.
    """
    progress = TransferProgress(logger, label, total)
    token = _PROGRESS.set(progress)
    try:
        yield progress
    finally:
        _PROGRESS.reset(token)


#: Object-storage bodies are passed on in slices of at most this size, so that progress moves within a part.
PROGRESS_SLICE = MIB


class ProgressCountingTransport(httpx.AsyncBaseTransport):
    """Counts object-storage bytes for the :func:`report_progress` of the sending task, if any.

    Object-storage requests are the presigned ones, without an ``Authorization`` header: a ``PUT``
    sends a part of a staged upload, a ``GET`` receives a staged download. This transport sits under
    :class:`RetryingTransport`, so it sees each attempt's body after :func:`_make_replayable`, and it
    gives the request back with its own body.

    :param inner: the transport that sends the requests.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        progress = _PROGRESS.get()
        if progress is None or 'authorization' in request.headers or request.method not in {'GET', 'PUT'}:
            return await self._inner.handle_async_request(request)
        key = f'{request.method} {request.url}'
        if request.method == 'PUT':
            body = request.stream
            request.stream = _CountedStream(body, key, progress)
            try:
                return await self._inner.handle_async_request(request)
            finally:
                request.stream = body
        response = await self._inner.handle_async_request(request)
        if response.status_code == 200:
            length = response.headers.get('content-length', '')
            if length.isdigit():
                progress.expect(int(length))
            response.stream = _CountedStream(response.stream, key, progress)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CountedStream(httpx.AsyncByteStream):
    """A body passed on in slices of at most :data:`PROGRESS_SLICE` bytes, each counted once consumed."""

    def __init__(self, inner: Any, key: str, progress: TransferProgress) -> None:
        self._inner = inner
        self._key = key
        self._progress = progress

    async def __aiter__(self) -> AsyncIterator[bytes]:
        position = 0
        async for chunk in self._inner:
            for start in range(0, len(chunk), PROGRESS_SLICE):
                piece = chunk[start : start + PROGRESS_SLICE]
                yield piece
                position += len(piece)
                self._progress.reached(self._key, position)

    async def aclose(self) -> None:
        if isinstance(self._inner, httpx.AsyncByteStream):
            await self._inner.aclose()


# --------------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------------


def renewal_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token of ``lifetime`` seconds is renewed.

    The real server refuses tokens with less than 30 s left, so the margin is never below 35 s;
    long-lived tokens are renewed a minute early, short ones at half their life.
    """
    return max(35.0, min(60.0, lifetime / 2))


class TokenCache:
    """The tokens of a process, one per token endpoint, client id and secret, until their renewal time.

    The daemon opens a transport, hence a client, for each batch of operations; with this cache a worker
    asks the identity provider for a token when the last one is due for renewal, not at every opening.
    A secret appears only as its SHA-256 in the keys.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    @staticmethod
    def key(token_uri: str, client_id: str, client_secret: str) -> tuple[str, str, str]:
        return token_uri, client_id, hashlib.sha256(client_secret.encode()).hexdigest()

    def get(self, key: tuple[str, str, str], now: float) -> tuple[str, float] | None:
        """The token for ``key`` and its renewal time, if it is not yet due for renewal at ``now``."""
        entry = self._tokens.get(key)
        return entry if entry is not None and now < entry[1] else None

    def put(self, key: tuple[str, str, str], token: str, renew_at: float) -> None:
        self._tokens[key] = (token, renew_at)

    def forget(self, key: tuple[str, str, str], token: str | None) -> None:
        """Forget ``token`` (refused by the server); a newer one another client fetched is kept."""
        if token is not None and self._tokens.get(key, ('', 0.0))[0] == token:
            del self._tokens[key]

    def clear(self) -> None:
        self._tokens.clear()


_TOKENS = TokenCache()


class ClientCredentialsAuth:
    """OAuth2 client-credentials tokens for ``AsyncFirecrest``, fetched without blocking the loop.

    ``AsyncFirecrest`` awaits :meth:`auth_headers` before every request. Concurrent requests share
    one renewal (a lock), and the clients of a process share their tokens (:class:`TokenCache`).
    Neither the secret nor the token is ever logged.

    :param token_uri: the token endpoint.
    :param client_id: the OAuth2 client id.
    :param client_secret: the OAuth2 client secret (the value itself).
    :param http: the ``httpx`` client used for token requests.
    :param clock: a monotonic clock (replaceable in tests).
    :param tokens: the tokens shared with other clients (by default the process's).
    """

    def __init__(
        self,
        token_uri: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenCache | None = None,
    ) -> None:
        self._token_uri = token_uri
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._tokens = _TOKENS if tokens is None else tokens
        self._key = TokenCache.key(token_uri, client_id, client_secret)
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f'{type(self).__name__}(token_uri={self._token_uri!r}, client_id={self._client_id!r})'

    async def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header, renewing the token first when it is close to expiry."""
        if self._token is None or self._clock() >= self._renew_at:
            async with self._lock:
                if self._token is None or self._clock() >= self._renew_at:
                    shared = self._tokens.get(self._key, self._clock())
                    if shared is not None:
                        self._token, self._renew_at = shared
                    else:
                        await self._renew()
        return {'Authorization': f'Bearer {self._token}'}

    def invalidate(self) -> None:
        """Forget the current token (here and for the other clients), so that the next request fetches a
        new one."""
        self._tokens.forget(self._key, self._token)
        self._token = None

    async def _renew(self) -> None:
        requested_at = self._clock()
        try:
            response = await self._http.post(
                self._token_uri, data=token_request(self._client_id, self._client_secret)
            )
        except httpx.HTTPError as exc:
            raise to_os_error(exc) from exc
        body = json_object(response)
        if response.status_code != 200 or not isinstance(body.get('access_token'), str):
            message = token_error_message(self._token_uri, self._client_id, response)
            if is_oauth2_answer(response):
                raise one_line_error(PermissionError, errno.EACCES, message)
            raise FirecrestConfigError(message)
        lifetime = float(body.get('expires_in', 300))
        self._token = body['access_token']
        self._renew_at = requested_at + lifetime - renewal_margin(lifetime)
        self._tokens.put(self._key, self._token, self._renew_at)
        LOGGER.debug('FirecREST token renewed for client %s (lifetime %.0f s)', self._client_id, lifetime)


def _short_text(response: httpx.Response) -> str:
    return response.text[:200].strip()


# --------------------------------------------------------------------------------------------------
# Error translation
# --------------------------------------------------------------------------------------------------

#: Remote-command error texts (the server forwards ``stderr``) and the errno they mean; first match wins.
_MESSAGE_ERRNOS: tuple[tuple[str, int], ...] = (
    ('file name too long', errno.ENAMETOOLONG),
    ('no such file or directory', errno.ENOENT),
    ('cannot stat', errno.ENOENT),
    ('permission denied', errno.EACCES),
    ('operation not permitted', errno.EPERM),
    ('file exists', errno.EEXIST),
    ('is a directory', errno.EISDIR),
    ('not a directory', errno.ENOTDIR),
    ('directory not empty', errno.ENOTEMPTY),
    ('file_not_found', errno.ENOENT),  # the staged download job's own message
    # qstat and qdel on a PBS system: a job PBS does not (or no longer) know, answered with a 500.
    ('unknown job id', errno.ENOENT),
)

_STATUS_ERRNOS = {
    400: errno.EINVAL,
    401: errno.EACCES,
    403: errno.EACCES,
    404: errno.ENOENT,
    408: errno.ETIMEDOUT,
    413: errno.EFBIG,
    429: errno.EBUSY,
}

_ERRNO_CLASSES: dict[int, type[OSError]] = {
    errno.ENOENT: FileNotFoundError,
    errno.EACCES: PermissionError,
    errno.EPERM: PermissionError,
    errno.EEXIST: FileExistsError,
    errno.EISDIR: IsADirectoryError,
    errno.ENOTDIR: NotADirectoryError,
    errno.ETIMEDOUT: TimeoutError,
}


def os_error(code: int, message: str, path: str | None = None) -> OSError:
    """The most specific ``OSError`` subclass for ``code``, e.g. ``FileNotFoundError`` for ENOENT."""
    cls = _ERRNO_CLASSES.get(code, OSError)
    return cls(code, message) if path is None else cls(code, message, path)


def _response_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _short_text(response) or f'HTTP {response.status_code}'
    if isinstance(body, dict) and body.get('message'):
        return str(body['message'])
    return str(body)[:300]


def errno_for(status: int, message: str) -> int:
    """The errno of a FirecREST error answer: from the remote command's message, else from the status."""
    lowered = message.lower()
    for text, code in _MESSAGE_ERRNOS:
        if text in lowered:
            return code
    return _STATUS_ERRNOS.get(status, errno.EIO)


class TransferJobError(Exception):
    """A server transfer job (cp, mv, compress, extract, staged upload or download) that did not succeed.

    The real server ends such a job ``COMPLETED`` even when its command failed; what went wrong is only in
    the job's error log, kept here for :func:`to_os_error`.

    :param job_id: the transfer job's id.
    :param error_log: the content of its ``errorLog`` ('' if it could not be read).
    """

    def __init__(self, job_id: str, error_log: str) -> None:
        super().__init__(job_id, error_log)
        self.job_id = job_id
        self.error_log = error_log

    def __str__(self) -> str:
        reason = transfer_log_reason(self.error_log) or 'its logs report neither success nor an error'
        return f'FirecREST transfer job {self.job_id} failed: {reason}'


#: The last line of a failed transfer job's error log, written by the server's job script, not the tool.
_JOB_SCRIPT_LINE = re.compile(r'Unable to \w+ files?\b|Exiting with failure status')


def transfer_log_reason(error_log: str) -> str:
    """The tool's error in a transfer job's error log (``cp: cannot stat 'x': No such file or directory``)."""
    lines = [line.strip() for line in error_log.splitlines() if line.strip()]
    reasons = [line for line in lines if not _JOB_SCRIPT_LINE.search(line)]
    return '; '.join(reasons)


class FirecrestConfigError(OSError):
    """The computer's configuration does not fit the server.

    A URL that does not serve FirecREST, a token URI that is not an OAuth2 endpoint, an unknown system,
    a server too old: ``str()`` is one line saying what is wrong and what to change; ``errno`` is EINVAL.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.EINVAL


def one_line_error(cls: type[OSError], code: int, message: str) -> OSError:
    """An ``OSError`` of class ``cls`` with errno ``code`` whose ``str()`` is exactly ``message``."""
    error = cls(message)
    error.errno = code
    return error


#: Where a FirecREST endpoint starts in a request URL (what comes before is the configured ``url``).
_ENDPOINT = re.compile(r'/(?:status|filesystem|compute)/')


def server_url(source: BaseException | httpx.Response | httpx.URL) -> str:
    """The server (the configured ``url``) a request went to, without endpoint or query (no signature).

    :param source: an ``httpx`` error or answer (its request is used), or a request URL.
    """
    if isinstance(source, httpx.URL):
        url = source
    else:
        try:
            url = source.request.url  # type: ignore[union-attr]
        except (AttributeError, RuntimeError):  # built without a request
            return 'the FirecREST server'
    text = str(url.copy_with(query=None, fragment=None))
    match = _ENDPOINT.search(text)
    return text[: match.start()] if match else text


def connection_error(exc: httpx.TransportError) -> OSError:
    """A one-line ``ConnectionError``: unreachable, refused, TLS problem, or a connection lost midway."""
    url = server_url(exc)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)):
        problem = explain_http_error(exc, url)
        if problem is not None:
            return one_line_error(ConnectionError, errno.ECONNREFUSED, str(problem))
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return one_line_error(
        ConnectionError, errno.ECONNRESET, f'The connection to {url} broke off ({reason}); try again later.'
    )


def to_os_error(exc: BaseException, path: str | None = None) -> OSError:
    """Translate an error of pyfirecrest or ``httpx`` into an ``OSError`` with errno, message and path.

    :param exc: the error raised while talking to the server.
    :param path: the path the operation was about, shown in the error.
    """
    if isinstance(exc, FirecrestException) and exc.responses:
        response = exc.responses[-1]
        message = _response_message(response)
        status = response.status_code
        if status == 401:
            message = token_rejected_message(server_url(response), message)
        return os_error(errno_for(status, message), f'{message} (HTTP {status})', path)
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        message = f'{server_url(exc)} did not answer in time ({type(exc).__name__}); try again later'
        return os_error(errno.ETIMEDOUT, message, path)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return os_error(_STATUS_ERRNOS.get(status, errno.EIO), f'Object storage answered HTTP {status}', path)
    if isinstance(exc, httpx.TransportError):
        return connection_error(exc)
    if isinstance(exc, TransferJobError):
        return os_error(errno_for(0, exc.error_log), str(exc), path)
    if isinstance(exc, MultipartUploadException):
        detail = without_urls(getattr(exc, '_msg', None) or 'the upload to object storage failed')
        return os_error(errno.EIO, f'FirecREST transfer failed: {detail}', path)
    if isinstance(exc, (TransferJobFailedException, JobTimeoutException)):
        return os_error(errno.EIO, f'FirecREST transfer failed: {without_urls(str(exc))}', path)
    if isinstance(exc, OSError):
        return exc
    return os_error(errno.EIO, f'FirecREST error: {exc}', path)


_NO_SUCH_ROUTE = {404: 'Not Found', 405: 'Method Not Allowed'}
"""FirecREST's whole message for a path or a method it does not serve (its framework's HTTP reason)."""


async def answer_problem(
    response: httpx.Response, system: str, system_names: Callable[[], Awaitable[list[str]]]
) -> FirecrestConfigError | None:
    """The configuration problem an error answer reveals, if any: not a FirecREST API, or an unknown system.

    FirecREST's own errors are JSON objects with ``errorType``; a 404 or 405 without one comes from
    something else at that URL (a web server, a gateway, the API without ``/v2``). FirecREST itself
    answers a path or method it does not serve (a URL with a wrong prefix) with its bare HTTP reason.

    :param response: an answer whose body has been read.
    :param system: the configured system name.
    :param system_names: gives the server's system names (asked only for an unknown system).
    """
    if response.status_code not in {404, 405}:
        return None
    body = json_object(response)
    if (
        'errorType' not in body
        or str(body.get('message', '')).strip() == _NO_SUCH_ROUTE[response.status_code]
    ):
        request = response.request
        detail = f'{request.method} {request.url.path} answered HTTP {response.status_code}'
        return FirecrestConfigError(not_firecrest_message(server_url(request.url), detail))
    if str(body.get('message', '')).strip().lower() == 'system not found':
        return FirecrestConfigError(unknown_system_message(system, await system_names()))
    return None


_URL = re.compile(r'https?://[^\s\'"),]+')
#: Errors whose text may contain presigned object-storage URLs: translated without their cause.
CARRYING_PRESIGNED_URLS = (httpx.HTTPStatusError, MultipartUploadException, TransferJobFailedException)
#: The exceptions :func:`translate_errors` converts.
TRANSLATED = (
    TransferJobError,
    FirecrestException,
    httpx.HTTPError,
    TransferJobFailedException,
    MultipartUploadException,
    JobTimeoutException,
)


@contextlib.contextmanager
def translate_errors(path: str | None = None) -> Iterator[None]:
    """Within this block, errors from the server become ``OSError`` subclasses (chained with ``from``).

    :param path: the path the operation is about.
    """
    try:
        yield
    except CARRYING_PRESIGNED_URLS as exc:
        raise to_os_error(exc, path) from None  # the cause's text holds presigned URLs: credentials
    except TRANSLATED as exc:
        raise to_os_error(exc, path) from exc


def without_urls(text: str) -> str:
    """``text`` with every URL replaced: presigned object-storage URLs work as short-lived credentials."""
    return _URL.sub('<URL>', text)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a pyfirecrest error, for the few callers that branch on an answer."""
    cause = exc.__cause__ if isinstance(exc, OSError) else exc
    if isinstance(cause, FirecrestException) and cause.responses:
        return int(cause.responses[-1].status_code)
    return None


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------

_LENIENT_VERSION = re.compile(r'^\s*v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?')


def lenient_version(header: str | None) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` from an ``f7t-appversion`` header; ``x`` parts (``2.x.x``) count as 0."""
    match = _LENIENT_VERSION.match(header or '')
    if match is None:
        return None
    return tuple(int(part) if part and part.isdigit() else 0 for part in match.groups())  # type: ignore[return-value]


class _FactCache:
    """Answers that rarely change (system description, user info), shared by the clients of a process.

    The daemon opens a transport, hence a client, for each batch of operations: without this cache
    each would ask again. Entries expire after ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self.versions: dict[str, str] = {}
        """The last ``f7t-appversion`` of each server URL (kept until cleared: any answer updates it)."""

    async def get_or_fetch(
        self, key: tuple[str, ...], fetch: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        value = await fetch()
        self._entries[key] = (time.monotonic(), value)
        return value

    def known(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        """The entry for ``key`` if it is cached and fresh (no request), else None."""
        cached = self._entries.get(key)
        return cached[1] if cached is not None and time.monotonic() - cached[0] < self.ttl else None

    def clear(self) -> None:
        self._entries.clear()
        self.versions.clear()


_SERVER_FACTS = _FactCache()


def clear_server_facts() -> None:
    """Forget the cached tokens, system descriptions, user infos and API versions (asked again when next
    needed), as in a new process."""
    _SERVER_FACTS.clear()
    _TOKENS.clear()


class _AsyncFirecrest(AsyncFirecrest):
    """``AsyncFirecrest`` whose HTTP session uses our transport (retries, timeouts, the in-process tier).

    Every answer passes through :meth:`_checked`: a server too old for this plugin, a URL that does not
    serve FirecREST and an unknown system raise :class:`FirecrestConfigError` at the first request,
    at no cost for the requests that succeed.

    pyfirecrest adapts its requests to the server's API version, which it learns from the answers; a
    client starts from the version an earlier client of this process saw, so that its first request
    (a staged upload, say, when the system description is cached) is already in the server's format.
    """

    #: :mod:`.transfer` decides between direct and staged: ``upload`` is only called for direct uploads.
    MAX_DIRECT_UPLOAD_SIZE = sys.maxsize

    def __init__(
        self, url: str, authorization: Any, session_factory: Callable[[], httpx.AsyncClient], system: str
    ) -> None:
        self._session_factory = session_factory
        self._system_name = system
        self._accepted_version: str | None = None
        #: Requests sent so far that may change the server (every method but GET): what was seen before
        #: the latest of them may be out of date.
        self.changes = 0
        super().__init__(firecrest_url=url, authorization=authorization)
        # pyfirecrest builds a plain session in __init__; it has not opened a connection yet.
        self._session = session_factory()
        known = _SERVER_FACTS.versions.get(self._firecrest_url)
        if known is not None:
            self._update_api_version_from_response(httpx.Response(200, headers={'f7t-appversion': known}))

    @property
    def api_version(self) -> str | None:
        """The server's ``f7t-appversion``, once known (an answer of this client or of an earlier one)."""
        return self._accepted_version

    async def create_new_session(self) -> None:
        if not self._session.is_closed:
            await self._session.aclose()
        self._session = self._session_factory()

    async def system_names(self) -> list[str]:
        """The names of the server's systems (empty if they cannot be read)."""
        try:
            return [str(system.get('name')) for system in await self.systems()]
        except (FirecrestException, httpx.HTTPError, ValueError):
            return []

    async def _checked(self, response: httpx.Response) -> httpx.Response:
        problem = await answer_problem(response, self._system_name, self.system_names)
        if problem is not None:
            raise problem
        return response

    def _update_api_version_from_response(self, response: httpx.Response) -> None:
        """Read the API version as pyfirecrest does, and refuse a server older than this plugin needs."""
        super()._update_api_version_from_response(response)
        header = response.headers.get('f7t-appversion')
        if not header or header == self._accepted_version:
            return
        problem = api_version_problem(header)
        if problem is not None:
            raise FirecrestConfigError(problem)
        self._accepted_version = _SERVER_FACTS.versions[self._firecrest_url] = header

    def _check_response(
        self, response: httpx.Response, expected_status_code: int, return_json: bool = True
    ) -> dict[str, Any]:
        """pyfirecrest's check of an answer, which also names a 2.2.8 upload URL as pyfirecrest reads it."""
        return _with_pyfirecrest_upload_names(
            super()._check_response(response, expected_status_code, return_json)
        )

    async def _wait_for_transfer_job(self, job_info: dict[str, Any], timeout: float | None = None) -> None:
        """Wait for a transfer job as pyfirecrest does; only if it failed, read its error log for why."""
        try:
            await super()._wait_for_transfer_job(job_info, timeout=timeout)
        except TransferJobFailedException as exc:
            job = job_info.get('transferJob') or {}
            raise TransferJobError(str(job.get('jobId')), await self._error_log(job)) from exc

    async def upload(
        self, system_name: str, local_file: str | Path, directory: str, filename: str, **kwargs: Any
    ) -> Any:
        """pyfirecrest's ``upload``; a staged one asks the API version first if no answer has told it yet.

        pyfirecrest writes the staged upload request for the version it knows (assuming the newest), and
        a server before 2.4.0 refuses the newer request: one ``GET /status/systems`` per process and
        server avoids that.
        """
        if self._accepted_version is None and Path(local_file).stat().st_size >= self.MAX_DIRECT_UPLOAD_SIZE:
            await self.server_version()
        return await super().upload(system_name, local_file, directory, filename, **kwargs)

    async def job_info(self, *args: Any, **kwargs: Any) -> list[Any]:
        """pyfirecrest's ``job_info``; the states it reads go to the progress report of a staged transfer."""
        jobs: list[Any] = await super().job_info(*args, **kwargs)
        progress = _PROGRESS.get()
        if progress is not None:
            for job in jobs:
                state = (job.get('status') or {}).get('state')
                progress.job_state(
                    str(job.get('jobId')), ','.join(state) if isinstance(state, list) else str(state)
                )
        return jobs

    async def _error_log(self, job: dict[str, Any]) -> str:
        """The error log of a transfer job ('' if there is none or it cannot be read)."""
        path = (job.get('logs') or {}).get('errorLog')
        if not path:
            return ''
        try:
            return str(await self.view(job.get('system') or self._system_name, path))
        except (FirecrestException, httpx.HTTPError):
            return ''

    async def _get_request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return await self._checked(await super()._get_request(*args, **kwargs))

    async def _post_request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        self.changes += 1
        return await self._checked(await super()._post_request(*args, **kwargs))

    async def _put_request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        self.changes += 1
        return await self._checked(await super()._put_request(*args, **kwargs))

    async def _delete_request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        self.changes += 1
        return await self._checked(await super()._delete_request(*args, **kwargs))


@dataclasses.dataclass(frozen=True)
class JobState:
    """What one poll says of a transfer job.

    :ivar name: the scheduler's state (``RUNNING``, ``COMPLETED``; ``F`` on PBS...), None while it does not
        list the job.
    :ivar running_for: seconds since the job started (the scheduler's elapsed time), None before.
    :ivar exit_code: the job's exit code as the server reports it (0 until it has ended).
    """

    name: str | None
    running_for: float | None
    exit_code: int = 0

    @property
    def finished(self) -> bool:
        return self.name is not None and bool(sched_state_completed(self.name))

    @property
    def succeeded(self) -> bool:
        """Ended well: ``COMPLETED`` on Slurm; on PBS, whose only end state is ``F``, with exit code 0."""
        return self.name == 'COMPLETED' or (self.name == 'F' and self.exit_code == 0)


def _job_not_found(exc: FirecrestException) -> bool:
    """Whether an answer says the scheduler does not (yet) know the job (its database lags a little)."""
    response = exc.responses[-1] if exc.responses else None
    return response is not None and response.status_code == 404 and 'job not found' in response.text.lower()


def _with_pyfirecrest_upload_names(answer: dict[str, Any]) -> dict[str, Any]:
    """A transfer/upload answer of FirecREST 2.2.8 (flat, with ``completeUploadUrl``) with that URL also
    under ``completeMultipartUploadUrl``, the only top-level name pyfirecrest 3.10 reads; others unchanged."""
    if (
        isinstance(answer, dict)
        and 'completeUploadUrl' in answer
        and 'completeMultipartUploadUrl' not in answer
    ):
        return {**answer, 'completeMultipartUploadUrl': answer['completeUploadUrl']}
    return answer


class FirecrestClient:
    """A configured ``AsyncFirecrest`` for one computer, with what the transport and scheduler share.

    Build it with ``await FirecrestClient.connect(config)`` inside the running event loop; close it
    with :meth:`close`.

    :ivar api: the ``firecrest.v2.AsyncFirecrest`` to call.
    :ivar system: the FirecREST system name (``compute_resource``).
    :ivar account: the billing account, or ``None``.
    :ivar config: the transport configuration.
    """

    def __init__(
        self,
        api: _AsyncFirecrest,
        config: TransportConfig,
        auth: ClientCredentialsAuth,
        token_http: httpx.AsyncClient,
        owned_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api = api
        self.config = config
        self.system = config.compute_resource
        self.account: str | None = config.billing_account or None
        self.auth = auth
        self._token_http = token_http
        self._owned_transport = owned_transport
        self._http: httpx.AsyncClient | None = None
        self._cache_lock = asyncio.Lock()  # concurrent first callers share one request

    @classmethod
    async def connect(
        cls, config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None = None
    ) -> FirecrestClient:
        """Build the client inside the running event loop (no request is sent yet).

        :param config: the computer's transport configuration.
        :param http_transport: an ``httpx`` transport to send requests through (e.g. to an in-process
            ASGI app); by default a plain HTTP transport.
        :raises ValueError: if the client secret cannot be resolved.
        """
        policy = RetryPolicy(config.max_retries)
        timeout = httpx.Timeout(config.request_timeout, connect=min(30.0, config.request_timeout))
        inner = http_transport if http_transport is not None else httpx.AsyncHTTPTransport(retries=0)

        token_http = httpx.AsyncClient(
            transport=RetryingTransport(_Unclosable(inner), policy), timeout=timeout
        )
        auth = ClientCredentialsAuth(
            config.token_uri, config.client_id, resolve_secret(config.client_secret), token_http
        )

        def session() -> httpx.AsyncClient:
            transport = RetryingTransport(ProgressCountingTransport(_Unclosable(inner)), policy, auth=auth)
            return httpx.AsyncClient(transport=transport, timeout=timeout)

        api = _AsyncFirecrest(config.url, auth, session, config.compute_resource)
        api.timeout = timeout
        api.num_retries_rate_limit = 0  # retries happen in RetryingTransport only
        client = cls(api, config, auth, token_http, owned_transport=None if http_transport else inner)
        client._http = session()
        return client

    async def close(self) -> None:
        """Close the HTTP sessions; the client is unusable afterwards."""
        await self.api.close_session()
        await self._token_http.aclose()
        if self._http is not None:
            await self._http.aclose()
        if self._owned_transport is not None:
            await self._owned_transport.aclose()

    async def download(self, path: str, target: Path) -> None:
        """Write the remote file ``path`` to the local file ``target`` in one ``GET ops/download``.

        pyfirecrest's ``download`` asks ``stat`` first; this is the same request without it, for a caller
        that knows the size. A file too large for a direct download answers 413 (``EFBIG``) or, when its
        output overflows the server's SSH channel, 408 after the command timeout (``ETIMEDOUT``).

        :raises OSError: the translated error (``FileNotFoundError``, ``IsADirectoryError``, ``EFBIG``...).
        """
        if self._http is None:
            raise RuntimeError('FirecrestClient.download needs a client built by FirecrestClient.connect')
        url = f'{self.config.url.rstrip("/")}/filesystem/{self.system}/ops/download'
        with translate_errors(path):
            headers = await self.auth.auth_headers()
            async with self._http.stream('GET', url, params={'path': path}, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    problem = await answer_problem(response, self.system, self.api.system_names)
                    if problem is not None:
                        raise problem
                    raise UnexpectedStatusException([response], 200)
                with target.open('wb') as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)

    # ------------------------------------------------------------------------ staged transfers

    async def start_staged_upload(self, remote: str, size: int, method: str) -> dict[str, Any]:
        """``POST transfer/upload`` of ``size`` bytes to ``remote``: the transfer job and presigned part URLs.

        The body is the one pyfirecrest's ``upload`` sends for this server's API version.

        :param method: the transfer method (``s3``; see :func:`.capabilities.staged_transfer_method`).
        """
        directory, name = posixpath.split(remote)
        if self.api._api_version < Version('2.4.0'):
            body: dict[str, Any] = {'source_path': directory, 'fileName': name, 'fileSize': size}
        else:
            body = {'path': remote, 'transfer_directives': {'file_size': size, 'transfer_method': method}}
        return await self._post_transfer('upload', body)

    async def start_staged_download(self, remote: str, method: str) -> dict[str, Any]:
        """``POST transfer/download`` of ``remote``: the transfer job and the presigned URL of its object.

        The body is the one pyfirecrest's ``download`` sends, without its ``stat`` first.

        :param method: the transfer method (``s3``; see :func:`.capabilities.staged_transfer_method`).
        """
        body: dict[str, Any] = {'source_path': remote}
        if self.api._api_version >= Version('2.4.0'):
            body['transfer_directives'] = {'transferMethod': method}
        return await self._post_transfer('download', body)

    async def _post_transfer(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.account is not None:
            body['account'] = self.account
        response = await self.api._post_request(
            endpoint=f'/filesystem/{self.system}/transfer/{kind}', json_data=body
        )
        return dict(self.api._check_response(response, 201))

    async def upload_to_stage(self, info: dict[str, Any], local: Path) -> None:
        """Send ``local`` to the presigned part URLs of ``info`` and complete the multipart upload."""
        await AsyncExternalUpload(
            client=self.api, transfer_info=info, local_file=str(local)
        ).upload_file_to_stage()

    async def fetch_object(self, url: str, target: Path) -> bool:
        """Write the object at the presigned ``url`` to ``target``; False while the object does not exist.

        A missing object answers 404, or 403 from an object store that does not let the URL's signer list
        the bucket; other errors raise ``httpx.HTTPStatusError`` (translated without the URL).
        """
        async with self.api._session.stream('GET', url) as response:
            if response.status_code in (403, 404):
                await response.aread()
                return False
            response.raise_for_status()
            with target.open('wb') as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
        return True

    async def transfer_job_state(self, job: dict[str, Any]) -> JobState:
        """The state of a transfer job (one request); no name while the scheduler does not list it."""
        try:
            records = await self.api.job_info(job.get('system') or self.system, str(job['jobId']))
        except FirecrestException as exc:
            if _job_not_found(exc):
                return JobState(None, None)
            raise
        record = records[0]
        state = (record.get('status') or {}).get('state')
        timing = record.get('time') or {}
        running_for = timing.get('elapsed') if timing.get('start') is not None else None
        return JobState(
            ','.join(state) if isinstance(state, list) else str(state),
            None if running_for is None else float(running_for),
            int((record.get('status') or {}).get('exitCode') or 0),
        )

    async def transfer_job_failure(self, job: dict[str, Any]) -> TransferJobError:
        """The error of a transfer job that did not succeed, with its error log (one request)."""
        return TransferJobError(str(job.get('jobId')), await self.api._error_log(job))

    async def cancel_transfer_job(self, job: dict[str, Any]) -> None:
        """Cancel a transfer job no longer waited for; a failure (it may have ended) is only logged."""
        try:
            await self.api.cancel_job(job.get('system') or self.system, str(job['jobId']))
        except (FirecrestException, httpx.HTTPError, OSError) as exc:
            LOGGER.debug('Could not cancel the transfer job %s: %s', job.get('jobId'), exc)

    async def system_info(self) -> dict[str, Any]:
        """This system's entry of ``GET /status/systems``, with its ``dataOperation`` whatever the server's
        release (:func:`.probe.systems_of`); asked once per process and server, for a while.

        :raises OSError: if the server cannot be reached or does not know the system.
        """
        async with self._cache_lock:
            key = ('systems', self.config.url, self.system)
            return await _SERVER_FACTS.get_or_fetch(key, self._fetch_system_info)

    def known_system_info(self) -> dict[str, Any] | None:
        """This system's description if this process has it already (no request), else None."""
        return _SERVER_FACTS.known(('systems', self.config.url, self.system))

    async def _fetch_system_info(self) -> dict[str, Any]:
        with translate_errors():
            # pyfirecrest's systems() drops what servers before 2.5.0 describe beside the systems
            answer = self.api._check_response(await self.api._get_request(endpoint='/status/systems'), 200)
        systems = systems_of(answer)
        for system in systems:
            if system.get('name') == self.system:
                return dict(system)
        names = [str(system.get('name')) for system in systems]
        raise FirecrestConfigError(unknown_system_message(self.system, names))

    async def max_ops_file_size(self) -> int | None:
        """The server's limit for direct uploads and downloads (``dataOperation.max_ops_file_size``)."""
        return max_ops_file_size(await self.system_info())

    async def userinfo(self) -> dict[str, Any]:
        """``GET /status/{system}/userinfo`` (asked once per process, server and client id, for a while).

        :raises OSError: if the request fails.
        """
        async with self._cache_lock:
            key = ('userinfo', self.config.url, self.system, self.config.client_id)
            return await _SERVER_FACTS.get_or_fetch(key, self._fetch_userinfo)

    async def _fetch_userinfo(self) -> dict[str, Any]:
        with translate_errors():
            return dict(await self.api.userinfo(self.system))

    @property
    def api_version(self) -> str | None:
        """The server's ``f7t-appversion`` header, once an answer has been seen (in this process)."""
        return self.api.api_version

    async def server_version(self) -> tuple[int, int, int] | None:
        """The server's API version read leniently from ``f7t-appversion`` (``2.x.x`` gives ``(2, 0, 0)``).

        :raises OSError: if the request fails.
        """
        with translate_errors():
            answer = await self.api.server_version()
        return lenient_version('2.x.x' if answer == '2' else answer)


class _Unclosable(httpx.AsyncBaseTransport):
    """Share one transport between sessions: closing a session does not close the shared transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The owner (:class:`FirecrestClient`) closes the shared transport."""
