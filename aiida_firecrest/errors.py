"""One error translation: the answers of FirecREST and ``httpx`` errors become ``OSError`` subclasses.

From the status code and the JSON ``message`` (a remote command's ``stderr``) to ``FileNotFoundError``,
``PermissionError``...; problems of the configuration itself (unreachable server, certificate, credentials,
a token URI or URL that is not what it should be, an unknown system, a server too old) become one-line
messages saying what to do, built by :mod:`.probe` as at configuration time. Presigned object-storage URLs
never appear in a message.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Awaitable, Callable, Iterator

import httpx
from firecrest import FirecrestException
from firecrest.FirecrestException import (
    JobTimeoutException,
    MultipartUploadException,
    TransferJobFailedException,
)

from .probe import (
    answer_message,
    explain_http_error,
    json_object,
    not_firecrest_message,
    token_rejected_message,
    unknown_system_message,
)
from .redaction import redact

__all__ = (
    'FirecrestConfigError',
    'TransferJobError',
    'answer_problem',
    'os_error',
    'to_os_error',
    'translate_errors',
    'translated',
)


def _short_text(response: httpx.Response) -> str:
    return response.text[:200].strip()


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
    """The answer's FirecREST message, else its body (a validation error's ``detail``), else its status."""
    message = answer_message(response)
    if message is not None:
        return message
    try:
        return str(response.json())[:300]
    except ValueError:
        return _short_text(response) or f'HTTP {response.status_code}'


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
_ENDPOINT = re.compile(r'/(?:status|filesystem|compute|utilities|storage|tasks)/')


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
    reason = without_urls(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
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
        if redact(str(exc)) != str(exc):
            raise to_os_error(exc, path) from None  # a token or a signature in the cause's text
        raise to_os_error(exc, path) from exc


def without_urls(text: str) -> str:
    """``text`` with every URL replaced: presigned object-storage URLs work as short-lived credentials."""
    return _URL.sub('<URL>', text)


def translated(exc: BaseException, path: str | None = None) -> OSError:
    """The error :func:`translate_errors` raises for ``exc`` (an ``OSError`` is kept as it is)."""
    try:
        with translate_errors(path):
            raise exc
    except OSError as error:
        return error
