"""OAuth2 client-credentials tokens: fetched without blocking the event loop, shared by the clients of a
process (:class:`TokenCache`), renewed well before the server's "expires too soon" limit.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import time
from collections.abc import Callable

import httpx

from .errors import FirecrestConfigError, one_line_error, to_os_error
from .probe import is_oauth2_answer, json_object, token_error_message, token_request
from .redaction import remember

__all__ = ('ClientCredentialsAuth', 'TokenCache', 'clear_tokens', 'renewal_margin')

LOGGER = logging.getLogger(__name__)


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
        remember(client_secret)  # redacted from every log record
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
        remember(self._token)
        self._renew_at = requested_at + lifetime - renewal_margin(lifetime)
        self._tokens.put(self._key, self._token, self._renew_at)
        LOGGER.debug('FirecREST token renewed for client %s (lifetime %.0f s)', self._client_id, lifetime)


def clear_tokens() -> None:
    """Forget the tokens of this process (fetched again when next needed)."""
    _TOKENS.clear()
