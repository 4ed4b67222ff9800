"""What both pyfirecrest clients (v1 and v2) do to every request: each answer checked, changes counted.

:class:`CheckedRequests` goes before pyfirecrest's ``AsyncFirecrest`` in a client's bases; it wraps the four
request methods pyfirecrest sends everything through. ``changes`` counts the requests that may change the
server (every method but GET), which tells a transport when the listings it remembers are stale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

__all__ = ('CheckedRequests',)

if TYPE_CHECKING:

    class _Requests:
        """The request methods of pyfirecrest's ``AsyncFirecrest`` (v1 and v2), the next class in the MRO."""

        async def _get_request(self, *args: Any, **kwargs: Any) -> httpx.Response: ...
        async def _post_request(self, *args: Any, **kwargs: Any) -> httpx.Response: ...
        async def _put_request(self, *args: Any, **kwargs: Any) -> httpx.Response: ...
        async def _delete_request(self, *args: Any, **kwargs: Any) -> httpx.Response: ...

else:
    _Requests = object


class CheckedRequests(_Requests):
    """Every answer goes through :meth:`_checked`; every request but a GET counts in ``changes``."""

    changes: int = 0

    async def _checked(self, response: httpx.Response) -> httpx.Response:
        """The answer, or an error if it says something about the configuration (each client's own)."""
        raise NotImplementedError

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
