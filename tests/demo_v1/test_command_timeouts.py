"""A direct command that outlives the v1 server's command timeout is run again as an xfer-internal job.

The real server runs every ``/utilities`` command under ``timeout UTILITIES_TIMEOUT`` and answers 400 with
``X-Timeout``; a ``cp`` or ``mv`` stopped that way has already written part of its target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiida_firecrest.config import AUTH_OPTIONS
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import dir_name_for

FILES = 3000
"""Enough files that ``cp -R`` outlives the command timeout below."""


@pytest.fixture(scope='module')
def slow_commands_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A v1 demo whose command timeout (0.05 s) stops a ``cp`` of a few thousand files."""
    from aiida_firecrest.demo.launcher import DemoServer

    with DemoServer(
        root=tmp_path_factory.mktemp('firecrest-v1-timeouts'), api='v1', command_timeout=0.05
    ) as server:
        yield server


@pytest.fixture
def work(slow_commands_server: Any, request: pytest.FixtureRequest) -> Path:
    path = Path(slow_commands_server.config['workdir']) / dir_name_for(request.node.name)
    (path / 'src' / 'sub').mkdir(parents=True)
    for index in range(FILES):
        (path / 'src' / ('sub' if index % 2 else '') / f'f{index}').write_text(str(index))
    return path


def _run(server: Any, scenario: Any) -> None:
    config = server.config
    params = {name: config[name] for name, _ in AUTH_OPTIONS if name in config}

    async def main() -> None:
        transport = FirecrestTransport(machine='localhost', safe_interval=0, **params)
        await transport.open_async()
        try:
            await scenario(transport)
        finally:
            await transport.close_async()

    asyncio.run(main())


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob('*') if p.is_file()}


def test_a_timed_out_copy_to_a_new_path_ends_as_asked_not_nested(
    slow_commands_server: Any, work: Path
) -> None:
    """The stopped ``cp -R`` made ``dest``: it is removed before the job copies again (or it would nest)."""
    expected = _tree(work / 'src')

    async def scenario(t: FirecrestTransport) -> None:
        await t.copytree_async(work / 'src', work / 'dest')

    _run(slow_commands_server, scenario)
    assert not (work / 'dest' / 'src').exists()
    assert _tree(work / 'dest') == expected


def test_a_timed_out_copy_into_an_existing_directory_goes_inside_it(
    slow_commands_server: Any, work: Path
) -> None:
    expected = _tree(work / 'src')
    (work / 'into').mkdir()

    async def scenario(t: FirecrestTransport) -> None:
        await t.copy_async(work / 'src', work / 'into')

    _run(slow_commands_server, scenario)
    assert sorted(p.name for p in (work / 'into').iterdir()) == ['src']
    assert _tree(work / 'into' / 'src') == expected


@pytest.fixture(scope='module')
def small_window_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A v1 demo whose SSH window (``max_ops_file_size``, 64 KiB) a ``tar -v`` listing of a few thousand
    names fills."""
    from aiida_firecrest.demo.launcher import DemoServer

    root = tmp_path_factory.mktemp('firecrest-v1-window')
    with DemoServer(root=root, api='v1', max_ops_file_size=64 * 1024) as server:
        yield server


def test_a_tree_whose_archive_listing_fills_the_servers_window_is_fetched_through_a_job(
    small_window_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The real server's ``tar -czvf`` prints each name; a listing above its window fails the direct
    compress (400, "Command output exceeded buffer limit"): the archive is made by an xfer-internal job."""
    tree = Path(small_window_server.config['workdir']) / dir_name_for(request.node.name) / 'tree'
    (tree / 'sub').mkdir(parents=True)
    for index in range(FILES):
        (tree / 'sub' / f'file-with-a-long-enough-name-{index:05d}.txt').write_text(str(index))

    async def scenario(t: FirecrestTransport) -> None:
        await t.gettree_async(tree, tmp_path / 'back')

    _run(small_window_server, scenario)
    assert _tree(tmp_path / 'back') == _tree(tree)
