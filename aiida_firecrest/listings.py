"""What a transport saw in the remote directories it listed a moment ago, so that a download asks less.

A download must know a file's type and size before it starts (a file too large for a direct download
goes staged). AiiDA retrieves a calculation's files one ``get`` at a time from the same directory, so
the first ``get`` lists the directory (one request) and the next ones find their file in that listing.

Only what a listing showed is used: a name missing from it is asked for again (it may have been
created since). The one exception is a directory this client has just created: it is empty, so any
name inside it is known not to exist (AiiDA creates a calculation's directory and at once asks whether
its ``.aiida`` folder is there). A listing is forgotten after a few seconds, and as soon as the client
sends anything that may change the server (any request other than a ``GET``), whatever it changes.
"""

from __future__ import annotations

import dataclasses
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ('Entry', 'RecentListings')


@dataclasses.dataclass(frozen=True)
class Entry:
    """A file or directory as a listing showed it (what a symbolic link points to is never assumed)."""

    is_dir: bool
    size: int


class RecentListings:
    """The directory listings of the last ``ttl`` seconds, valid while the server was not changed.

    :param changes: how many changing requests the client has sent so far (a listing remembered at one
        count is not used once the count has moved on).
    :param ttl: seconds a listing is used for.
    :param clock: a monotonic clock (replaceable in tests).
    """

    def __init__(
        self, changes: Callable[[], int], ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._changes = changes
        self._ttl = ttl
        self._clock = clock
        self._listings: dict[str, tuple[float, int, dict[str, Entry]]] = {}
        self._created: set[str] = set()

    def remember(self, directory: str, entries: Iterable[Mapping[str, Any]]) -> None:
        """Keep the files and directories of one ``ops/ls`` of ``directory`` (links are left out)."""
        seen = {
            str(entry['name']): Entry(entry['type'] == 'd', int(entry.get('size') or 0))
            for entry in entries
            if entry.get('type') in ('-', 'd')
        }
        key = directory.rstrip('/') or '/'
        self._listings[key] = (self._clock(), self._changes(), seen)
        self._created.discard(key)

    def created(self, directory: str) -> None:
        """Keep that this client has just created ``directory``: empty, so nothing inside it exists yet."""
        key = directory.rstrip('/') or '/'
        self._listings[key] = (self._clock(), self._changes(), {})
        self._created.add(key)

    def known_absent(self, path: str) -> bool:
        """Whether ``path`` is inside a directory just created by this client and so does not exist."""
        directory = posixpath.dirname(path.rstrip('/'))
        return directory in self._created and self._valid(directory) is not None

    def lookup(self, path: str) -> Entry | None:
        """What a still valid listing of ``path``'s directory showed of it, or ``None`` if none did."""
        directory, name = posixpath.split(path.rstrip('/'))
        seen = self._valid(directory)
        return None if seen is None else seen.get(name)

    def listed(self, path: str) -> bool:
        """Whether ``path``'s directory has a still valid listing (whether or not it shows ``path``)."""
        return self._valid(posixpath.dirname(path.rstrip('/'))) is not None

    def _valid(self, directory: str) -> dict[str, Entry] | None:
        listing = self._listings.get(directory)
        if listing is None:
            return None
        listed_at, changes, seen = listing
        if self._clock() - listed_at > self._ttl or changes != self._changes():
            del self._listings[directory]
            self._created.discard(directory)
            return None
        return seen

    def clear(self) -> None:
        self._listings.clear()
        self._created.clear()
