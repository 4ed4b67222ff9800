"""What a server rarely changes, kept for every client of the process: its description, the user, its version.

The daemon opens a transport, hence a client, for each batch of operations; without :data:`SERVER_FACTS`
each would ask the server again. :func:`clear_server_facts` forgets everything (tokens included), as a new
process would.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from .auth import clear_tokens

__all__ = ('SERVER_FACTS', 'FactCache', 'clear_server_facts')


class FactCache:
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


SERVER_FACTS = FactCache()


def clear_server_facts() -> None:
    """Forget the cached tokens, system descriptions, user infos and API versions (asked again when next
    needed), as in a new process."""
    SERVER_FACTS.clear()
    clear_tokens()
