"""Bounded fan-out: a glob with many matches never has more than ``max_io_allowed`` requests in flight."""

from __future__ import annotations

import asyncio
import stat
from typing import Any

from aiida_firecrest.concurrency import gather_bounded
from aiida_firecrest.paths import FORBIDDEN_CHARACTERS
from aiida_firecrest.remote import LsEntry, Stat
from aiida_firecrest.transport import FirecrestTransport

MATCHES = 500
LIMIT = 4


class CountingRemote:
    """A backend whose directory ``/src`` holds :data:`MATCHES` files; it counts the requests in flight."""

    forbidden_characters = FORBIDDEN_CHARACTERS

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.copied: list[str] = []

    async def _request(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)
        finally:
            self.in_flight -= 1

    async def ls(self, path: str, dereference: bool = False, numeric: bool = False) -> list[LsEntry]:
        await self._request()
        if path.rstrip('/') == '/src':
            return [LsEntry(name=f'f{index}.out', type='-', size=1) for index in range(MATCHES)]
        return [LsEntry(name='src', type='d', size=0)]

    async def stat(self, path: str, dereference: bool) -> Stat:
        await self._request()
        return Stat(stat.S_IFDIR | 0o755, 0)

    async def cp(self, source: str, destination: str, dereference: bool) -> None:
        await self._request()
        self.copied.append(source)


def _transport(remote: Any) -> FirecrestTransport:
    transport = FirecrestTransport(
        machine='test',
        url='http://f',
        token_uri='http://f/token',
        client_id='c',
        client_secret='s',
        compute_resource='s',
        temp_directory='/tmp',
        max_io_allowed=LIMIT,
    )
    transport._backend = remote
    return transport


def test_a_copy_of_500_matches_has_at_most_max_io_allowed_requests_in_flight() -> None:
    remote = CountingRemote()
    asyncio.run(_transport(remote).copy_async('/src/*.out', '/dst'))
    assert len(remote.copied) == MATCHES
    assert remote.most_in_flight == LIMIT


def test_bounded_gather_keeps_the_order_and_raises_the_first_error() -> None:
    async def value(index: int) -> int:
        await asyncio.sleep(0.001 * (index % 3))
        if index == 7:
            raise ValueError(index)
        return index

    async def scenario() -> None:
        assert await gather_bounded((value(index) for index in range(7)), 2) == list(range(7))
        try:
            await gather_bounded((value(index) for index in range(10)), 3)
        except ValueError as exc:
            assert exc.args == (7,)
        else:
            raise AssertionError('the error was lost')

    asyncio.run(scenario())
