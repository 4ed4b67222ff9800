"""Connecting: nothing sent before use, version read leniently, clear errors; remote-to-remote copies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any, TypeVar

import pytest

from aiida_firecrest.backends import open_backend
from aiida_firecrest.client import FirecrestClient
from aiida_firecrest.errors import FirecrestConfigError
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.settings import TransportConfig
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import Counted, CountedIfDemo, WithTransport

T = TypeVar('T')


def connect_and(
    transport_params: dict[str, Any], call: Callable[[FirecrestClient], Awaitable[T]], **overrides: Any
) -> T:
    """``await call(client)`` with a client connected with ``transport_params`` and ``overrides``."""

    async def main() -> T:
        client = await FirecrestClient.connect(
            TransportConfig.from_auth_params({**transport_params, **overrides})
        )
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(main())


@pytest.mark.v2_only(reason='the v2 client itself: its version header and /status/systems')
def test_the_server_version_is_read_as_a_2_x_triple(transport_params: dict[str, Any]) -> None:
    """The demo and a server run from source send ``2.x.x``, a release ``2.5.7``: both read as (2, n, m)."""
    version = connect_and(transport_params, lambda client: client.server_version())
    assert isinstance(version, tuple) and len(version) == 3 and version[0] == 2


@pytest.mark.v2_only(reason='the v2 client itself: its version header and /status/systems')
def test_an_unknown_system_is_named_with_the_known_ones(transport_params: dict[str, Any]) -> None:
    known = re.escape(transport_params['compute_resource'])
    with pytest.raises(FirecrestConfigError, match=f"no system 'nonexistent'; available systems: .*{known}"):
        connect_and(transport_params, lambda client: client.system_info(), compute_resource='nonexistent')


def test_the_transport_sends_nothing_until_used(transport_params: dict[str, Any], counted: Counted) -> None:
    async def scenario() -> None:
        transport = FirecrestTransport(machine='localhost', **transport_params)
        await transport.open_async()
        await transport.close_async()

    counted()
    asyncio.run(scenario())
    assert counted() == {}


def test_copy_from_remote_to_remote_goes_through_a_local_sandbox(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    transport_params: dict[str, Any],
) -> None:
    remote_files.populate(remote_dir, {'src/f': 'f'})

    async def scenario(t: FirecrestTransport) -> None:
        other = FirecrestTransport(machine='localhost', **transport_params)
        await other.open_async()
        try:
            await t.copy_from_remote_to_remote_async(other, remote_dir / 'src', remote_dir / 'dest')
        finally:
            await other.close_async()

    with_transport(scenario)
    assert remote_files.read_text(remote_dir / 'dest' / 'f') == 'f'


def test_listdir_withattributes_of_a_directory_with_a_dangling_link(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
) -> None:
    """The real server fails ``ls`` with dereference for the whole directory (404) if one link dangles."""
    remote_files.populate(remote_dir, {'file': 'f'}, {'dangling': str(remote_dir / 'gone')})

    async def scenario(t: FirecrestTransport) -> list[dict[str, Any]]:
        counted_if_demo()
        return await t.listdir_withattributes_async(remote_dir)

    entries = with_transport(scenario)
    assert sorted(entry['name'] for entry in entries) == ['dangling', 'file']
    requests = counted_if_demo()
    if requests is not None:
        assert sum(requests.values()) == 2


FACTS_REQUESTS = {
    '2': {'GET /status/systems': 1, 'GET /status/{system_name}/userinfo': 1},
    '1': {'GET /status/parameters': 1, 'GET /status/{system_name}/userinfo': 1},
}
"""What the system's description and the user's information cost (v1: its parameters and whoami)."""


def test_server_facts_are_asked_once_per_process(
    transport_params: dict[str, Any], counted: Counted, api: str
) -> None:
    async def twice() -> None:
        client, remote = await open_backend(TransportConfig.from_auth_params(transport_params))
        try:
            await remote.system_info()
            await remote.userinfo()
        finally:
            await client.close()

    clear_server_facts()
    counted()
    asyncio.run(twice())
    asyncio.run(twice())
    assert counted() == FACTS_REQUESTS[api]
