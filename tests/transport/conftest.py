"""Fixtures of the transport tests: run a scenario with an open :class:`FirecrestTransport`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aiida_firecrest.transport import FirecrestTransport

T = TypeVar('T')
Scenario = Callable[[FirecrestTransport], Awaitable[T]]


def run_with_transport(params: dict[str, Any], scenario: Scenario[T], **overrides: Any) -> T:
    """Open a transport in a fresh event loop, run ``scenario(transport)``, close it."""

    async def main() -> T:
        transport = FirecrestTransport(machine='localhost', safe_interval=0, **{**params, **overrides})
        await transport.open_async()
        try:
            return await scenario(transport)
        finally:
            await transport.close_async()

    return asyncio.run(main())


@pytest.fixture
def with_transport(transport_params: dict[str, Any]) -> Callable[..., Any]:
    """``with_transport(scenario, **options)``: the result of ``await scenario(open transport)``."""
    return lambda scenario, **overrides: run_with_transport(transport_params, scenario, **overrides)


_OPS = '/filesystem/{system_name}/ops'
V1_OPERATIONS = {
    'GET /utilities/ls': f'GET {_OPS}/ls',
    'GET /utilities/stat': f'GET {_OPS}/stat',
    'GET /utilities/checksum': f'GET {_OPS}/checksum',
    'GET /utilities/download': f'GET {_OPS}/download',
    'GET /utilities/view': f'GET {_OPS}/view',
    'POST /utilities/upload': f'POST {_OPS}/upload',
    'POST /utilities/mkdir': f'POST {_OPS}/mkdir',
    'POST /utilities/symlink': f'POST {_OPS}/symlink',
    'POST /utilities/compress': f'POST {_OPS}/compress',
    'POST /utilities/extract': f'POST {_OPS}/extract',
    'PUT /utilities/chmod': f'PUT {_OPS}/chmod',
    'DELETE /utilities/rm': f'DELETE {_OPS}/rm',
    'POST /storage/xfer-external/upload': 'POST /filesystem/{system_name}/transfer/upload',
    'POST /storage/xfer-external/download': 'POST /filesystem/{system_name}/transfer/download',
    'GET /utilities/whoami': 'GET /status/{system_name}/userinfo',
}
"""v1 requests named as the v2 request of the same operation, so that one request budget holds on both.

Only operations that are one request on both APIs are renamed; the others keep their v1 names (a copy or
rename, a transfer job on v2, is a direct ``/utilities`` call on v1; ``GET /tasks/{id}`` has no v2 twin).
"""


def as_v2_operations(counters: dict[str, int]) -> dict[str, int]:
    """The demo's request counters with v1 requests named by :data:`V1_OPERATIONS`."""
    named: dict[str, int] = {}
    for endpoint, count in counters.items():
        name = V1_OPERATIONS.get(endpoint, endpoint)
        named[name] = named.get(name, 0) + count
    return named


def _taker(server: Any) -> Callable[[], dict[str, int]]:
    """Requests since the last call (the demo server's counters, then reset), v1's named as v2's."""

    def take() -> dict[str, int]:
        counters: dict[str, int] = server.counters()
        server.reset_counters()
        return as_v2_operations(counters)

    return take


@pytest.fixture
def counted(demo_only: Any) -> Callable[[], dict[str, int]]:
    """Requests to FirecREST since the last call, by the v2 endpoint of their operation (:func:`_taker`)."""
    return _taker(demo_only)


@pytest.fixture
def counted_if_demo(firecrest_server: Any) -> Callable[[], dict[str, int] | None]:
    """Like ``counted`` on the demo server; on a server without counters, a function returning None.

    For tests whose behaviour holds on any server and whose request budget is checked where it can be.
    """
    if not firecrest_server.is_demo:
        return lambda: None
    return _taker(firecrest_server)


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    path = tmp_path / 'local'
    path.mkdir()
    return path
