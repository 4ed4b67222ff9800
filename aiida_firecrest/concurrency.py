"""Bounded fan-out: a variable number of requests gathered with at most a fixed number in flight.

A glob that matches 500 files must not send 500 copies (each a server transfer job) at once: every place
that gathers a number of requests that depends on the data uses :func:`gather_bounded`, with the
transport's ``max_io_allowed`` as the bound. The model is fsspec's ``_run_coros_in_chunks``; here a
semaphore starts the next request as soon as one ends, instead of waiting for a whole chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

__all__ = ('gather_bounded',)

T = TypeVar('T')


async def gather_bounded(awaitables: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Like ``asyncio.gather(*awaitables)`` (results in order, the first error raised), with at most
    ``limit`` of them running at a time; an awaitable starts only when a slot is free.

    :param limit: the most awaitables in flight (at least 1).
    """
    slots = asyncio.Semaphore(max(1, limit))

    async def bounded(awaitable: Awaitable[T]) -> T:
        async with slots:
            return await awaitable

    return list(await asyncio.gather(*(bounded(awaitable) for awaitable in awaitables)))
