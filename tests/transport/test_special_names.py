"""Names the real server mishandles work end to end, or are refused before any request."""

from __future__ import annotations

import errno
import re
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

import pytest

from aiida_firecrest.paths import FORBIDDEN_CHARACTERS, V1_FORBIDDEN_CHARACTERS
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import SESSION_API, RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport

NAMES = {
    'space': 'with space.txt',
    'double-quote': 'say "hi".txt',
    'newline': 'two\nlines.txt',
    'non-ascii': 'énergie-λ.txt',
    'leading-dash': '-rf',
    'shell': 'a;b$c`d`&.txt',
    'dollar-and-brackets': 'x$y[1]{2}.txt',
}
"""Odd names, each moved on its own where the session's server takes it (a v1 server refuses ``;"&``...)."""

REFUSED_CHARACTERS = {'single-quote': ("'", r"single quote \('\)"), 'nul': ('\0', r'NUL character')}
V1_REFUSED_CHARACTERS = {
    **REFUSED_CHARACTERS,
    **{f'v1-{ord(char):02x}': (char, re.escape(f'character {char!r}')) for char in '<>|;"&\\()`\n\t'},
}
"""What the server cannot take in a path: v2 a quote and NUL; v1 also what its validate_input refuses."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The names and characters of the session's API (see :data:`NAMES` and :data:`V1_REFUSED_CHARACTERS`)."""
    speaks_v1 = metafunc.config.stash[SESSION_API] == '1'
    refused = V1_REFUSED_CHARACTERS if speaks_v1 else REFUSED_CHARACTERS
    if 'character' in metafunc.fixturenames:
        metafunc.parametrize('character', list(refused.values()), ids=list(refused))
    if 'name' in metafunc.fixturenames:
        forbidden = V1_FORBIDDEN_CHARACTERS if speaks_v1 else FORBIDDEN_CHARACTERS
        taken = {key: name for key, name in NAMES.items() if not set(name) & set(forbidden)}
        metafunc.parametrize('name', list(taken.values()), ids=list(taken))


def test_odd_file_names_round_trip(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    name: str,
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


def test_odd_names_inside_trees_round_trip(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
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
        lambda t, d, local, c: t.putfile_async(local / 'in', f'{d}/it{c}s.txt'),
        lambda t, d, local, c: t.getfile_async(f'{d}/it{c}s.txt', local / 'out'),
        lambda t, d, local, c: t.listdir_async(f'{d}/o{c}clock'),
        lambda t, d, local, c: t.remove_async(f'{d}/it{c}s.txt'),
    ],
    ids=['putfile', 'getfile', 'listdir', 'remove'],
)
def test_a_character_the_server_mishandles_is_refused_before_any_request(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    local_dir: Path,
    call: Callable[[FirecrestTransport, PurePosixPath, Path, str], Awaitable[object]],
    character: tuple[str, str],
) -> None:
    char, description = character
    (local_dir / 'in').write_text('x')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(ValueError, match=description):
            await call(t, remote_dir, local_dir, char)
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)


@pytest.mark.parametrize(
    'call',
    [
        lambda t, d, c: t.copyfile_async(f'{d}/a{c}b.txt', f'{d}/copy.txt'),
        lambda t, d, c: t.copy_async(f'{d}/plain.txt', f'{d}/a{c}b.txt'),
        lambda t, d, c: t.copytree_async(f'{d}/tree{c}', f'{d}/copy'),
        lambda t, d, c: t.rename_async(f'{d}/plain.txt', f'{d}/a{c}b.txt'),
    ],
    ids=['copyfile-source', 'copy-target', 'copytree-source', 'rename-target'],
)
@pytest.mark.parametrize('char', list('&<>"'))
def test_a_copy_or_move_that_the_servers_job_would_alter_is_refused_before_any_request(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    call: Callable[[FirecrestTransport, PurePosixPath, str], Awaitable[object]],
    char: str,
    api: str,
) -> None:
    """v2's copy and move jobs write these characters as HTML entities (``&`` as ``&amp;``); v1 refuses
    them in every path."""
    refusal = {'2': r'cannot copy or move .* as HTML entities', '1': 'FirecREST v1 refuses it'}[api]

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(ValueError, match=refusal):
            await call(t, remote_dir, char)
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)


@pytest.mark.parametrize(
    'call',
    [
        lambda t, path, local: t.putfile_async(local / 'in', path),
        lambda t, path, local: t.mkdir_async(path),
    ],
    ids=['putfile', 'mkdir'],
)
def test_a_name_too_long_for_the_server_raises_enametoolong(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    call: Callable[[FirecrestTransport, str, Path], Awaitable[object]],
) -> None:
    (local_dir / 'in').write_text('x')
    path = f'{remote_dir}/{"x" * 300}'

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(OSError) as raised:
            await call(t, path, local_dir)
        assert raised.value.errno == errno.ENAMETOOLONG

    with_transport(scenario)
