"""The common ground of the transport's layers: the open client, the backend, and how paths are read.

:class:`TransportBase` holds what every layer of :class:`~.transport.FirecrestTransport` uses: the
configuration, the client and backend of an open transport, the transfers, the recent listings, remote
path checking, and the ``stat``/``ls``/``describe`` helpers that consult those listings first.
"""

from __future__ import annotations

import asyncio
import errno
import posixpath
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import httpx
from aiida.common.exceptions import InvalidOperation
from aiida.transports.transport import (
    AsyncTransport,
    TransportInternalError,
    TransportPath,
)

from .backends import AnyClient, open_backend
from .concurrency import gather_bounded
from .listings import Entry, RecentListings
from .paths import FORBIDDEN_CHARACTERS, check_remote_path
from .remote import LsEntry, Remote, Stat
from .settings import TransportConfig
from .transfer import Transfers

T = TypeVar('T')
_Self = TypeVar('_Self', bound='TransportBase')


class TransportBase(AsyncTransport):
    """The state of a FirecREST transport and the helpers its operations share."""

    def __init__(
        self, *args: Any, http_transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
    ) -> None:
        """Store the configuration; nothing is sent before :meth:`open_async`.

        :param http_transport: an ``httpx`` transport for the requests (tests route them in-process).
        :param kwargs: the computer's configuration (see ``aiida_firecrest.config.AUTH_OPTIONS``).
        """
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # aiida-core does not type it
        self._config = TransportConfig.from_auth_params(kwargs)
        self._http_transport = http_transport
        self._semaphore = asyncio.Semaphore(self._config.max_io_allowed)
        self._client: AnyClient | None = None
        self._backend: Remote | None = None
        self._transfers: Transfers | None = None
        self._listings = RecentListings(lambda: 0)

    @property
    def client(self) -> AnyClient:
        """The connected client (v2's :class:`.client.FirecrestClient` or v1's).

        :raises TransportInternalError: if the transport is not open.
        """
        if self._client is None:
            raise TransportInternalError('The FirecREST transport is not open')
        return self._client

    @property
    def remote(self) -> Remote:
        """The backend every operation goes through (what the scheduler uses too).

        :raises TransportInternalError: if the transport is not open.
        """
        if self._backend is None:
            raise TransportInternalError('The FirecREST transport is not open')
        return self._backend

    @property
    def transfers(self) -> Transfers:
        """How bytes move to and from the server (valid after :meth:`open_async`).

        :raises TransportInternalError: if the transport is not open.
        """
        if self._transfers is None:
            raise TransportInternalError('The FirecREST transport is not open')
        return self._transfers

    @property
    def max_io_allowed(self) -> int:
        """The most transfers running at the same time."""
        return self._config.max_io_allowed

    async def open_async(self: _Self) -> _Self:
        """Create the FirecREST client (inside the running event loop); no request is sent yet, unless
        ``api_version`` is ``auto`` and this process has not yet asked the server which API it speaks.

        :raises InvalidOperation: if the transport is already open.
        """
        if self._is_open:
            raise InvalidOperation('Cannot open the transport twice')
        self._client, self._backend = await open_backend(self._config, self._http_transport)
        self._listings = RecentListings(lambda: self.remote.changes)
        self._transfers = Transfers(self._backend, self._semaphore, self.logger)
        self._is_open = True
        return self

    async def close_async(self) -> None:
        """Close the client's HTTP sessions.

        :raises InvalidOperation: if the transport is already closed.
        """
        if not self._is_open:
            raise InvalidOperation('Cannot close the transport: it is already closed')
        try:
            await self.client.close()
        finally:
            self._client = None
            self._backend = None
            self._transfers = None
            self._is_open = False

    async def _gather(self, awaitables: Iterable[Awaitable[T]]) -> list[T]:
        """Await a number of operations that depends on the data, at most ``max_io_allowed`` at a time."""
        return await gather_bounded(awaitables, self.max_io_allowed)

    def _remote(self, path: TransportPath) -> str:
        """A remote path as the server needs it: absolute, non-empty, without characters it mishandles.

        :raises OSError: if the path is empty or relative.
        :raises ValueError: if it contains a character the server cannot handle.
        """
        text = str(path)
        if not text:
            raise OSError(errno.EINVAL, 'The remote path is an empty string')
        if not posixpath.isabs(text):
            raise OSError(errno.EINVAL, f'The remote path must be absolute: {text!r}')
        check_remote_path(text, self._backend.forbidden_characters if self._backend else FORBIDDEN_CHARACTERS)
        return posixpath.normpath(text) if text != '/' else text

    async def _stat(self, path: str, dereference: bool) -> Stat | None:
        """What ``stat`` says, or ``None`` if the path does not exist (no request inside a directory
        this client has just created)."""
        if self._listings.known_absent(path):
            return None
        try:
            return await self.remote.stat(path, dereference=dereference)
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def _ls(self, path: str, dereference: bool = False, numeric: bool = False) -> list[LsEntry]:
        """One ``ops/ls`` of a directory (hidden entries included; names unescaped)."""
        entries = await self.remote.ls(path, dereference=dereference, numeric=numeric)
        if not any(entry['name'].startswith('/') for entry in entries):  # a directory's, not a file's
            self._listings.remember(path, entries)
        return entries

    async def _describe(self, remote: str) -> Entry | None:
        """Whether ``remote`` is a directory, and its size (following links); ``None`` if it does not exist.

        Read from a listing of its directory made a moment ago, or made now (one request, which then
        describes its siblings to the next downloads); a path no listing shows is asked for alone.
        """
        entry = self._listings.lookup(remote)
        if entry is None and remote != '/' and not self._listings.listed(remote):
            directory = posixpath.dirname(remote)
            try:
                await self._ls(directory, dereference=True)
            except OSError:  # e.g. a dangling link inside: do not list it again for every file
                self._listings.remember(directory, [])
            entry = self._listings.lookup(remote)
        if entry is not None:
            return entry
        found = await self._stat(remote, dereference=True)
        return None if found is None else Entry(found.is_dir, found.size)
