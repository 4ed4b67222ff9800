"""Progress of staged transfers, logged at a bounded rate without a request of its own.

Bytes are counted in the object-storage requests (:class:`ProgressCountingTransport`, an ``httpx``
transport) and the transfer job's states come from the answers its wait receives; :func:`report_progress`
says which transfer the requests of a task belong to.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from .settings import MIB

__all__ = (
    'PROGRESS_SLICE',
    'ProgressCountingTransport',
    'TransferProgress',
    'current_progress',
    'report_progress',
)


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
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
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
        # a form upload (FirecREST v1) also sends its fields: never more than the whole is reported
        self.moved = self.moved + gained if self.total is None else min(self.moved + gained, self.total)
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
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger], label: str, total: int | None = None
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
    sends a part of a staged upload (a multipart form ``POST`` all of it, on FirecREST v1), a ``GET``
    receives a staged download. This transport sits under
    :class:`RetryingTransport`, so it sees each attempt's body after :func:`_make_replayable`, and it
    gives the request back with its own body.

    :param inner: the transport that sends the requests.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        progress = _PROGRESS.get()
        if progress is None or 'authorization' in request.headers or not _counted(request):
            return await self._inner.handle_async_request(request)
        key = f'{request.method} {request.url}'
        if request.method != 'GET':
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


def _counted(request: httpx.Request) -> bool:
    """Whether an object-storage request moves a transfer's bytes (not, say, a multipart completion)."""
    if request.method == 'POST':
        return str(request.headers.get('content-type', '')).startswith('multipart/form-data')
    return request.method in {'GET', 'PUT'}


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


def current_progress() -> TransferProgress | None:
    """The progress report of the staged transfer running in this context, if any."""
    return _PROGRESS.get()
