"""The configured FirecREST v1 client of one computer: pyfirecrest's ``firecrest.v1.AsyncFirecrest`` on our
HTTP stack, its errors translated once, its tasks polled with backoff.

The HTTP stack is :class:`.client.FirecrestClient`'s (timeouts, :mod:`.retries`, :mod:`.progress`, the
shared tokens of :mod:`.auth`); pyfirecrest v1 asks its authorization for a token synchronously, so the
token is put into each request by :class:`_Authorizing`, under the retries. pyfirecrest's own pacing of
requests (``time_between_calls``) and its busy task polling are not used: :meth:`FirecrestV1Client.task`
polls one task, one request per poll, waiting longer each time.

v1 answers every error with ``{"description", "error"}`` and a header naming the kind of error
(``X-Not-Found``, ``X-Permission-Denied``, ``X-Exists``...): :func:`v1_os_error` turns both into the
``OSError`` subclasses of :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Iterator
from typing import Any, cast

import httpx
from firecrest import FirecrestException
from firecrest.v1 import AsyncFirecrest

from .auth import ClientCredentialsAuth
from .checked_requests import CheckedRequests
from .errors import (
    TRANSLATED,
    FirecrestConfigError,
    errno_for,
    os_error,
    server_url,
    to_os_error,
    without_urls,
)
from .http_stack import HttpStack
from .probe import not_firecrest_message, token_rejected_message, unknown_system_message
from .progress import ProgressCountingTransport
from .retries import RetryingTransport
from .server_facts import SERVER_FACTS
from .settings import TransportConfig

__all__ = ('FINAL_TASK_STATUSES', 'FirecrestV1Client', 'TaskError', 'translate_v1_errors', 'v1_os_error')

#: Task statuses after which nothing changes (done, failed; a staged upload's 114/115, download's 117/118).
FINAL_TASK_STATUSES = frozenset({'200', '400', '114', '115', '117', '118'})
#: Statuses of a task that failed.
FAILED_TASK_STATUSES = frozenset({'400', '115', '118'})
#: Waits between two polls of a task: the first, its growth factor and its cap (seconds).
TASK_POLL_FIRST, TASK_POLL_GROWTH, TASK_POLL_MAX = 0.05, 2.0, 5.0

#: The errno of each of v1's error headers, when the message itself does not tell.
_HEADER_ERRNOS = {
    'X-Not-Found': errno.ENOENT,
    'X-Invalid-Path': errno.ENOENT,
    'X-Permission-Denied': errno.EACCES,
    'X-Exists': errno.EEXIST,
    'X-Not-A-Directory': errno.ENOTDIR,
    'X-A-Directory': errno.EISDIR,
    'X-Size-Limit': errno.EFBIG,
    'X-Timeout': errno.ETIMEDOUT,
    'X-Invalid-Mode': errno.EINVAL,
    'X-Invalid-Owner': errno.EINVAL,
    'X-Invalid-Group': errno.EINVAL,
    'X-Machine-Does-Not-Exist': errno.EINVAL,
    'X-Machine-Does-Not-Exists': errno.EINVAL,
    'X-Machine-Not-Available': errno.EHOSTUNREACH,
}
#: The header of an unknown system: utilities spell it ``...-Exist``, storage and compute ``...-Exists``.
_UNKNOWN_SYSTEM_HEADERS = ('X-Machine-Does-Not-Exist', 'X-Machine-Does-Not-Exists')


class TaskError(Exception):
    """A v1 task that ended in a failed status; ``message`` is what its data says."""

    def __init__(self, task_id: str, status: str, message: str) -> None:
        super().__init__(task_id, status, message)
        self.task_id, self.status, self.message = task_id, status, message

    def __str__(self) -> str:
        return f'FirecREST task {self.task_id} failed ({self.status}): {without_urls(self.message)}'


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def v1_os_error(response: httpx.Response, path: str | None = None) -> OSError:
    """The ``OSError`` of a v1 error answer: the errno from the command's message, else from the header."""
    body = _body(response)
    description = str(body.get('description') or body.get('message') or response.reason_phrase)
    detail = str(body.get('error') or '')
    status = response.status_code
    header = next((name for name in _HEADER_ERRNOS if name in response.headers), None)
    message = f'{description}: {detail}' if detail else description
    if header is not None and not detail:
        message = f'{message} ({response.headers[header]})'
    if status == 401:
        return os_error(errno.EACCES, token_rejected_message(server_url(response), message), path)
    code = errno_for(status, detail or description)
    if code in (errno.EIO, errno.EINVAL) and header is not None:
        code = _HEADER_ERRNOS[header]
    return os_error(code, f'{message} (HTTP {status})', path)


def task_os_error(exc: TaskError, path: str | None = None) -> OSError:
    return os_error(errno_for(0, exc.message), str(exc), path)


@contextlib.contextmanager
def translate_v1_errors(path: str | None = None) -> Iterator[None]:
    """Within this block, errors of a v1 server, its tasks and ``httpx`` become ``OSError`` subclasses."""
    try:
        yield
    except TaskError as exc:
        raise task_os_error(exc, path) from exc
    except FirecrestException as exc:
        if not exc.responses:
            raise to_os_error(exc, path) from exc
        raise v1_os_error(exc.responses[-1], path) from exc
    except TRANSLATED as exc:
        raise to_os_error(exc, path) from exc


class _Authorizing(httpx.AsyncBaseTransport):
    """Puts the current token into every request that pyfirecrest v1 marked with an ``Authorization``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, auth: ClientCredentialsAuth) -> None:
        self._inner, self._auth = inner, auth

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if 'authorization' in request.headers:
            request.headers.update(await self._auth.auth_headers())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Placeholder:
    """pyfirecrest v1's authorization: a token it asks synchronously; :class:`_Authorizing` replaces it."""

    @staticmethod
    def get_access_token() -> str:
        return 'pending'


class _AsyncFirecrestV1(CheckedRequests, AsyncFirecrest):
    """pyfirecrest's v1 client on our session, without its own pacing; it counts changing requests."""

    def __init__(self, url: str, session: httpx.AsyncClient, timeout: httpx.Timeout) -> None:
        super().__init__(firecrest_url=url, authorization=_Placeholder())
        self._session = session
        self.timeout = timeout
        self.num_retries_rate_limit = 0  # retries happen in RetryingTransport only
        self.time_between_calls = dict.fromkeys(self.time_between_calls, 0.0)
        self.disable_client_logging = True
        #: Requests sent so far that may change the server (every method but GET).
        self.changes = 0

    async def _checked(self, response: httpx.Response) -> httpx.Response:
        """Refuse, in one line, an answer that is not FirecREST v1's or names an unknown system."""
        if any(header in response.headers for header in _UNKNOWN_SYSTEM_HEADERS):
            system = response.request.headers.get('X-Machine-Name', '')
            raise FirecrestConfigError(unknown_system_message(system, await self._system_names()))
        if response.status_code in (404, 405) and not {'description', 'error'} & set(_body(response)):
            request = response.request
            detail = f'{request.method} {request.url.path} answered HTTP {response.status_code}'
            raise FirecrestConfigError(not_firecrest_message(server_url(request.url), detail))
        return response

    async def _system_names(self) -> list[str]:
        try:
            answer = await super()._get_request(endpoint='/status/systems')
            return [str(entry.get('system')) for entry in _body(answer).get('out') or []]
        except (FirecrestException, httpx.HTTPError):
            return []


class FirecrestV1Client:
    """A configured v1 ``AsyncFirecrest`` for one computer; build it with ``await connect(config)``.

    :ivar api: pyfirecrest's ``firecrest.v1.AsyncFirecrest`` (on our HTTP session).
    :ivar http: the session (also for the object store's presigned URLs).
    """

    def __init__(
        self,
        api: _AsyncFirecrestV1,
        config: TransportConfig,
        stack: HttpStack,
    ) -> None:
        self.api = api
        self.auth = stack.auth
        self.http = api._session
        self.config = config
        self.system = config.compute_resource
        self.account: str | None = config.billing_account or None
        self._stack = stack
        self._cache_lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None = None
    ) -> FirecrestV1Client:
        """Build the client inside the running event loop (no request is sent yet)."""
        stack = HttpStack.build(config, http_transport)
        session = RetryingTransport(
            _Authorizing(ProgressCountingTransport(stack.shared()), stack.auth), stack.policy, auth=stack.auth
        )
        api = _AsyncFirecrestV1(
            config.url, httpx.AsyncClient(transport=session, timeout=stack.timeout), stack.timeout
        )
        return cls(api, config, stack)

    async def close(self) -> None:
        await self.api.close_session()
        await self._stack.aclose()

    @property
    def machine(self) -> dict[str, str]:
        """The ``X-Machine-Name`` header of every request about the system."""
        return {'X-Machine-Name': self.system}

    async def get(self, endpoint: str, params: dict[str, Any] | None = None, status: int = 200) -> Any:
        """``GET endpoint`` about the system; the JSON answer (raising pyfirecrest's errors)."""
        response = await self.api._get_request(
            endpoint=endpoint, additional_headers=self.machine, params=params or {}
        )
        return self.answer(response, status)

    async def post(self, endpoint: str, data: dict[str, Any], status: int = 201) -> Any:
        response = await self.api._post_request(endpoint=endpoint, additional_headers=self.machine, data=data)
        return self.answer(response, status)

    def answer(self, response: httpx.Response, status: int) -> Any:
        """The JSON of ``response`` (None if it has none), checked as pyfirecrest checks an answer.

        :raises FirecrestException: for an error answer (with the headers v1 names errors by).
        """
        return self.api._json_response([cast(Any, response)], status, allow_none_result=True)

    async def parameters(self) -> dict[str, Any]:
        """``/status/parameters`` (asked once per process and server, for a while); it also sets pyfirecrest's
        idea of the API version, which some of its calls check."""
        async with self._cache_lock:
            answer = await SERVER_FACTS.get_or_fetch(
                ('v1-parameters', self.config.url), self._fetch_parameters
            )
        version = next(
            (e.get('value') for e in answer.get('general') or [] if e.get('name') == 'FIRECREST_VERSION'),
            None,
        )
        if version and self.api._query_api_version:
            with contextlib.suppress(ValueError):
                self.api.set_api_version(str(version).lstrip('v'))
        return answer

    async def _fetch_parameters(self) -> dict[str, Any]:
        with translate_v1_errors():
            response = await self.api._get_request(endpoint='/status/parameters')
            return dict(self.answer(response, 200)['out'])

    async def task(self, task_id: str, until: frozenset[str] = FINAL_TASK_STATUSES) -> dict[str, Any]:
        """Poll ``GET /tasks/{id}`` (one request per poll, waiting longer each time) until its status is in
        ``until``; the task.

        :raises TaskError: if it ended in a failed status.
        """
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            task = await self.task_now(task_id)
            status = str(task.get('status'))
            if status in FAILED_TASK_STATUSES:
                raise TaskError(task_id, status, failure_message(task))
            if status in until:
                return task
            delay = TASK_POLL_FIRST if not delay else min(delay * TASK_POLL_GROWTH, TASK_POLL_MAX)

    async def task_now(self, task_id: str) -> dict[str, Any]:
        """The task as the server has it now (one request)."""
        response = await self.api._get_request(endpoint=f'/tasks/{task_id}')
        return dict(self.answer(response, 200)['task'])

    async def task_result(self, answer: Any) -> Any:
        """The data of the task an answer created, once it is done."""
        return (await self.task(str(answer['task_id'])))['data']


def failure_message(task: dict[str, Any]) -> str:
    """What a failed task's data says went wrong."""
    data = task.get('data')
    if isinstance(data, dict):
        return str(data.get('error') or data.get('msg') or data.get('description') or task.get('description'))
    return str(data or task.get('description') or '')
