"""The configured FirecREST client of one computer: pyfirecrest's ``AsyncFirecrest`` on our HTTP stack.

:class:`FirecrestClient` builds the ``firecrest.v2.AsyncFirecrest`` with an explicit timeout on every
request, the retries of :mod:`.retries`, the progress counting of :mod:`.progress` and the tokens of
:mod:`.auth`; every answer is checked for what it says of the configuration (:func:`.errors.answer_problem`,
the server's API version). It keeps what rarely changes (the system's description, the user's info, the
API version) for the clients of the process, and offers the requests pyfirecrest has no call for (a direct
download without its ``stat``, the steps of a staged transfer). The plugins do not call it directly: they
call :mod:`.remote`, the backend, which translates every error once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import posixpath
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from firecrest import FirecrestException
from firecrest.FirecrestException import TransferJobFailedException, UnexpectedStatusException
from firecrest.utilities import sched_state_completed
from firecrest.v2 import AsyncFirecrest
from firecrest.v2._async.Client import AsyncExternalUpload
from packaging.version import Version

from .checked_requests import CheckedRequests
from .errors import FirecrestConfigError, TransferJobError, answer_problem, translate_errors
from .http_stack import HttpStack, fetch_to_file
from .probe import (
    api_version_problem,
    max_ops_file_size,
    parse_api_version,
    systems_of,
    unknown_system_message,
)
from .progress import ProgressCountingTransport, current_progress
from .retries import RetryingTransport
from .server_facts import SERVER_FACTS
from .settings import TransportConfig

__all__ = ('FirecrestClient', 'JobState')

LOGGER = logging.getLogger(__name__)


class _AsyncFirecrest(CheckedRequests, AsyncFirecrest):
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
        known = SERVER_FACTS.versions.get(self._firecrest_url)
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
        self._accepted_version = SERVER_FACTS.versions[self._firecrest_url] = header

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
        progress = current_progress()
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
        stack: HttpStack,
    ) -> None:
        self.api = api
        self.config = config
        self.system = config.compute_resource
        self.account: str | None = config.billing_account or None
        self.auth = stack.auth
        self._stack = stack
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
        stack = HttpStack.build(config, http_transport)

        def session() -> httpx.AsyncClient:
            transport = RetryingTransport(
                ProgressCountingTransport(stack.shared()), stack.policy, auth=stack.auth
            )
            return httpx.AsyncClient(transport=transport, timeout=stack.timeout)

        api = _AsyncFirecrest(config.url, stack.auth, session, config.compute_resource)
        api.timeout = stack.timeout
        api.num_retries_rate_limit = 0  # retries happen in RetryingTransport only
        client = cls(api, config, stack)
        client._http = session()
        return client

    async def close(self) -> None:
        """Close the HTTP sessions; the client is unusable afterwards."""
        await self.api.close_session()
        if self._http is not None:
            await self._http.aclose()
        await self._stack.aclose()

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
        return await fetch_to_file(self.api._session, url, target)

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
            return await SERVER_FACTS.get_or_fetch(key, self._fetch_system_info)

    def known_system_info(self) -> dict[str, Any] | None:
        """This system's description if this process has it already (no request), else None."""
        return SERVER_FACTS.known(('systems', self.config.url, self.system))

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
            return await SERVER_FACTS.get_or_fetch(key, self._fetch_userinfo)

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
        version = parse_api_version(answer)
        if version is None:
            return None
        major, minor, patch = (*version, 0, 0)[:3]
        return major, minor, patch
