"""The types of the transport tests' fixtures (``tests/transport/conftest.py``), for their parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiida_firecrest.transport import FirecrestTransport

T = TypeVar('T')

Counted = Callable[[], dict[str, int]]
"""``counted()``: the demo server's requests per endpoint since the last call."""

CountedIfDemo = Callable[[], 'dict[str, int] | None']
"""``counted_if_demo()``: like ``counted`` on the demo server, None on a server without counters."""


class WithTransport(Protocol):
    """``with_transport(scenario, **options)``: the result of ``await scenario(open transport)``."""

    def __call__(self, scenario: Callable[[FirecrestTransport], Awaitable[T]], /, **overrides: Any) -> T: ...
