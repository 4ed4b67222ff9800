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


def _speaks_v1(server: Any) -> bool:
    return str(server.config.get('api_version')) == '1'


V1_BUDGETS = "request budgets name FirecREST v2's endpoints; a v1 server has others"


@pytest.fixture
def api(firecrest_server: Any) -> str:
    """The FirecREST API of the session's server, ``'1'`` or ``'2'``: the endpoints a budget names."""
    return '1' if _speaks_v1(firecrest_server) else '2'


@pytest.fixture
def counted(demo_only: Any) -> Callable[[], dict[str, int]]:
    """Requests to FirecREST since the last call (the demo server's counters, then reset)."""

    def take() -> dict[str, int]:
        counters: dict[str, int] = demo_only.counters()
        demo_only.reset_counters()
        return counters

    return take


@pytest.fixture
def counted_if_demo(firecrest_server: Any) -> Callable[[], dict[str, int] | None]:
    """Like ``counted`` on the demo server; on a server without counters, a function returning None.

    For tests whose behaviour holds on any server and whose request budget is checked where it can be.
    """
    if not firecrest_server.is_demo or _speaks_v1(firecrest_server):  # v1: see V1_BUDGETS
        return lambda: None

    def take() -> dict[str, int]:
        counters: dict[str, int] = firecrest_server.counters()
        firecrest_server.reset_counters()
        return counters

    return take


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    path = tmp_path / 'local'
    path.mkdir()
    return path
