"""The HTTP stack under a FirecREST client (v1 or v2): one connection pool, its timeouts, retries and tokens.

:meth:`HttpStack.build` makes, for one computer's configuration, the transport every session of a client
shares (a plain HTTP transport, or the caller's, e.g. an in-process ASGI app), the retry policy, the
explicit timeout, and the OAuth2 token source with its own retried session. :meth:`HttpStack.shared` hands
the pool to a session that must not close it; :meth:`HttpStack.aclose` closes what the stack made.
:func:`fetch_to_file` writes an object behind a presigned URL to a file, for the staged downloads of both
clients.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from .auth import ClientCredentialsAuth
from .retries import RetryingTransport, RetryPolicy
from .secrets import resolve_secret
from .settings import TransportConfig

__all__ = ('HttpStack', 'fetch_to_file')


@dataclasses.dataclass
class HttpStack:
    """What the sessions of one client share."""

    inner: httpx.AsyncBaseTransport
    """The transport every session sends through."""
    owned: bool
    """Whether this stack made ``inner`` (and so closes it)."""
    policy: RetryPolicy
    timeout: httpx.Timeout
    auth: ClientCredentialsAuth
    token_http: httpx.AsyncClient
    """The session of the token requests (retried, not counted as FirecREST requests)."""

    @classmethod
    def build(
        cls, config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None = None
    ) -> HttpStack:
        """The stack of ``config``, on ``http_transport`` if given (else a plain HTTP transport).

        :raises ValueError: if the client secret cannot be resolved.
        """
        policy = RetryPolicy(config.max_retries)
        timeout = httpx.Timeout(config.request_timeout, connect=min(30.0, config.request_timeout))
        inner = http_transport if http_transport is not None else httpx.AsyncHTTPTransport(retries=0)
        token_http = httpx.AsyncClient(
            transport=RetryingTransport(Unclosable(inner), policy), timeout=timeout
        )
        auth = ClientCredentialsAuth(
            config.token_uri, config.client_id, resolve_secret(config.client_secret), token_http
        )
        return cls(inner, http_transport is None, policy, timeout, auth, token_http)

    def shared(self) -> httpx.AsyncBaseTransport:
        """The pool, for a session whose closing must leave it open."""
        return Unclosable(self.inner)

    async def aclose(self) -> None:
        await self.token_http.aclose()
        if self.owned:
            await self.inner.aclose()


class Unclosable(httpx.AsyncBaseTransport):
    """Share one transport between sessions: closing a session does not close the shared transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The owner (:class:`HttpStack`) closes the shared transport."""


async def fetch_to_file(session: httpx.AsyncClient, url: str, target: Path) -> bool:
    """Write the object at the presigned ``url`` to ``target``; False while the object does not exist.

    A missing object answers 404, or 403 from an object store that does not let the URL's signer list the
    bucket; other errors raise ``httpx.HTTPStatusError``.
    """
    async with session.stream('GET', url) as response:
        if response.status_code in (403, 404):
            await response.aread()
            return False
        response.raise_for_status()
        with target.open('wb') as handle:
            async for chunk in response.aiter_bytes():
                handle.write(chunk)
    return True
