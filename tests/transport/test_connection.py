"""Connecting: nothing sent before use, version read leniently, clear errors; remote-to-remote copies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aiida_firecrest.client import FirecrestClient, FirecrestConfigError, clear_server_facts
from aiida_firecrest.config import TransportConfig
from aiida_firecrest.transport import FirecrestTransport

pytestmark = pytest.mark.usefixtures('demo_only')


def connect_and(transport_params: dict, call, **overrides) -> object:
    async def main() -> object:
        client = await FirecrestClient.connect(
            TransportConfig.from_auth_params({**transport_params, **overrides})
        )
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(main())


def test_a_2_x_x_server_version_is_read_leniently(transport_params) -> None:
    assert connect_and(transport_params, lambda client: client.server_version()) == (2, 0, 0)


def test_an_unknown_system_is_named_with_the_known_ones(transport_params) -> None:
    with pytest.raises(FirecrestConfigError, match="no system 'nonexistent'; available systems: cluster"):
        connect_and(transport_params, lambda client: client.system_info(), compute_resource='nonexistent')


def test_the_transport_sends_nothing_until_used(transport_params, counted) -> None:
    async def scenario() -> None:
        transport = FirecrestTransport(machine='localhost', **transport_params)
        await transport.open_async()
        await transport.close_async()

    counted()
    asyncio.run(scenario())
    assert counted() == {}


def test_copy_from_remote_to_remote_goes_through_a_local_sandbox(
    with_transport, remote_dir, transport_params
) -> None:
    Path(str(remote_dir / 'src')).mkdir()
    Path(str(remote_dir / 'src' / 'f')).write_text('f')

    async def scenario(t: FirecrestTransport) -> None:
        other = FirecrestTransport(machine='localhost', **transport_params)
        await other.open_async()
        try:
            await t.copy_from_remote_to_remote_async(other, remote_dir / 'src', remote_dir / 'dest')
        finally:
            await other.close_async()

    with_transport(scenario)
    assert Path(str(remote_dir / 'dest' / 'f')).read_text() == 'f'


def test_listdir_withattributes_of_a_directory_with_a_dangling_link(
    with_transport, counted, remote_dir
) -> None:
    root = Path(str(remote_dir))
    (root / 'file').write_text('f')
    (root / 'dangling').symlink_to(root / 'gone')

    async def scenario(t: FirecrestTransport) -> list[dict]:
        counted()
        return await t.listdir_withattributes_async(remote_dir)

    entries = with_transport(scenario)
    assert sorted(entry['name'] for entry in entries) == ['dangling', 'file']
    assert sum(counted().values()) == 2


def test_server_facts_are_asked_once_per_process(transport_params, counted) -> None:
    async def twice(client: FirecrestClient) -> None:
        await client.system_info()
        await client.userinfo()

    clear_server_facts()
    counted()
    connect_and(transport_params, twice)
    connect_and(transport_params, twice)
    assert counted() == {'GET /status/systems': 1, 'GET /status/{system_name}/userinfo': 1}
