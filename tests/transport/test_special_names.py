"""Names the real server mishandles work end to end, or are refused before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiida_firecrest.transport import FirecrestTransport

NAMES = {
    'space': 'with space.txt',
    'double-quote': 'say "hi".txt',
    'newline': 'two\nlines.txt',
    'non-ascii': 'énergie-λ.txt',
    'leading-dash': '-rf',
    'shell': 'a;b$c`d`&.txt',
}


@pytest.mark.parametrize('name', NAMES.values(), ids=NAMES.keys())
def test_odd_file_names_round_trip(
    with_transport, remote_dir, remote_files, local_dir: Path, name: str
) -> None:
    (local_dir / 'in').write_text(name)

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.putfile_async(local_dir / 'in', remote_dir / name)
        await t.getfile_async(remote_dir / name, local_dir / 'out')
        assert await t.isfile_async(remote_dir / name)
        return await t.listdir_async(remote_dir)

    assert with_transport(scenario) == [name]
    assert (remote_files.mirror(remote_dir) / name).read_text() == name
    assert (local_dir / 'out').read_text() == name


def test_odd_names_inside_trees_round_trip(with_transport, remote_dir, local_dir: Path) -> None:
    names = [*NAMES.values(), "it's.txt"]
    (local_dir / 'tree').mkdir()
    for name in names:
        (local_dir / 'tree' / name).write_text(name)

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree')
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back')
        return await t.listdir_async(remote_dir / 'tree')

    assert sorted(with_transport(scenario)) == sorted(names)
    assert {p.name: p.read_text() for p in (local_dir / 'back').iterdir()} == {name: name for name in names}


@pytest.mark.parametrize(
    'call',
    [
        lambda t, d, local: t.putfile_async(local / 'in', f"{d}/it's.txt"),
        lambda t, d, local: t.getfile_async(f"{d}/it's.txt", local / 'out'),
        lambda t, d, local: t.listdir_async(f"{d}/o'clock"),
        lambda t, d, local: t.remove_async(f"{d}/it's.txt"),
    ],
    ids=['putfile', 'getfile', 'listdir', 'remove'],
)
def test_a_single_quote_in_a_remote_path_is_refused_before_any_request(
    with_transport, counted_if_demo, remote_dir, local_dir, call
) -> None:
    (local_dir / 'in').write_text('x')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(ValueError, match=r'single quote \(\'\)'):
            await call(t, remote_dir, local_dir)
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)
