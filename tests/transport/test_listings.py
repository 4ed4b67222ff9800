"""Retrieving files one ``get`` at a time lists their directory once, and never trusts a stale listing."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from aiida_firecrest.listings import Entry, RecentListings
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport

LS = 'GET /filesystem/{system_name}/ops/ls'
STAT = 'GET /filesystem/{system_name}/ops/stat'
DOWNLOAD = 'GET /filesystem/{system_name}/ops/download'


def test_gets_of_files_in_one_directory_list_it_once(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    names = ['aiida.out', '_scheduler-stdout.txt', '_scheduler-stderr.txt']
    for name in names:
        remote_files.write(remote_dir / name, name)

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        for name in names:
            await t.get_async(remote_dir / name, local_dir / name)
        return counted_if_demo()

    counts = with_transport(scenario)
    assert {name: (local_dir / name).read_text() for name in names} == {name: name for name in names}
    if counts is not None:
        assert counts == {LS: 1, DOWNLOAD: 3}


def test_a_file_created_after_the_listing_is_still_found(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    remote_files.write(remote_dir / 'first.txt', 'first')

    async def scenario(t: FirecrestTransport) -> None:
        await t.get_async(remote_dir / 'first.txt', local_dir / 'first.txt')
        remote_files.write(remote_dir / 'later.txt', 'later')  # by someone else, after the listing
        await t.get_async(remote_dir / 'later.txt', local_dir / 'later.txt', ignore_nonexisting=True)

    with_transport(scenario)
    assert (local_dir / 'later.txt').read_text() == 'later'


def test_a_listing_is_not_used_once_the_transport_changed_the_server(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    remote_files.write(remote_dir / 'data.txt', 'short')
    (local_dir / 'longer.txt').write_text('a longer content')

    async def scenario(t: FirecrestTransport) -> None:
        await t.get_async(remote_dir / 'data.txt', local_dir / 'old.txt')
        await t.putfile_async(local_dir / 'longer.txt', remote_dir / 'data.txt')
        await t.get_async(remote_dir / 'data.txt', local_dir / 'new.txt')

    with_transport(scenario)
    assert (local_dir / 'new.txt').read_text() == 'a longer content'


def test_a_missing_file_in_a_listed_directory_is_asked_for_before_it_is_skipped(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    remote_files.write(remote_dir / 'present.txt', 'here')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        await t.get_async(remote_dir / 'present.txt', local_dir / 'present.txt')
        counted_if_demo()
        await t.get_async(remote_dir / 'absent.txt', local_dir / 'absent.txt', ignore_nonexisting=True)
        return counted_if_demo()

    counts = with_transport(scenario)
    assert not (local_dir / 'absent.txt').exists()
    if counts is not None:
        assert counts == {STAT: 1}


def test_a_tree_put_into_a_directory_just_made_asks_nothing_of_it(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    """As AiiDA uploads a calculation: ``mkdir`` of its directory, then ``put`` of ``.aiida`` into it."""
    (local_dir / '.aiida').mkdir()
    (local_dir / '.aiida' / 'calcinfo.json').write_text('{}')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        await t.mkdir_async(remote_dir / 'calc')
        counted_if_demo()
        await t.puttree_async(local_dir / '.aiida', remote_dir / 'calc' / '.aiida')
        return counted_if_demo()

    counts = with_transport(scenario)
    assert remote_files.read_text(remote_dir / 'calc' / '.aiida' / 'calcinfo.json') == '{}'
    if counts is not None:
        assert STAT not in counts


def test_an_existing_directory_is_not_assumed_empty(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    """``mkdir`` with ``ignore_existing`` of a directory that exists: nothing is assumed of its content."""
    remote_files.mkdir(remote_dir / 'calc' / '.aiida')
    (local_dir / '.aiida').mkdir()
    (local_dir / '.aiida' / 'calcinfo.json').write_text('{}')

    async def scenario(t: FirecrestTransport) -> None:
        await t.mkdir_async(remote_dir / 'calc', ignore_existing=True)
        await t.puttree_async(local_dir / '.aiida', remote_dir / 'calc' / '.aiida')

    with_transport(scenario)
    # '.aiida' existed: the tree went into it, as AiiDA's puttree semantics say
    assert remote_files.read_text(remote_dir / 'calc' / '.aiida' / '.aiida' / 'calcinfo.json') == '{}'


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _listings(changes: list[int], clock: _Clock) -> RecentListings:
    listings = RecentListings(lambda: changes[0], ttl=5.0, clock=clock)
    entries: list[dict[str, Any]] = [
        {'name': 'file', 'type': '-', 'size': '42'},
        {'name': 'dir', 'type': 'd', 'size': '4096'},
        {'name': 'link', 'type': 'l', 'size': '4'},
    ]
    listings.remember('/scratch/run', entries)
    return listings


def test_a_listing_shows_files_and_directories_but_not_what_links_point_to() -> None:
    listings = _listings([0], _Clock())
    assert listings.lookup('/scratch/run/file') == Entry(is_dir=False, size=42)
    assert listings.lookup('/scratch/run/dir') == Entry(is_dir=True, size=4096)
    assert listings.lookup('/scratch/run/link') is None
    assert listings.lookup('/scratch/other/file') is None


def test_a_listing_expires_after_its_time() -> None:
    clock = _Clock()
    listings = _listings([0], clock)
    clock.now = 5.5
    assert listings.lookup('/scratch/run/file') is None


def test_a_listing_is_forgotten_after_a_changing_request() -> None:
    changes = [0]
    listings = _listings(changes, _Clock())
    changes[0] = 1
    assert listings.lookup('/scratch/run/file') is None


def test_a_name_missing_from_a_valid_listing_is_unknown_but_its_directory_is_listed() -> None:
    listings = _listings([0], _Clock())
    assert listings.lookup('/scratch/run/absent') is None
    assert listings.listed('/scratch/run/absent')
    assert not listings.listed('/scratch/other/file')


def test_a_directory_just_created_has_nothing_inside_until_the_next_change() -> None:
    changes = [0]
    listings = RecentListings(lambda: changes[0], ttl=5.0, clock=_Clock())
    listings.created('/scratch/calc')
    assert listings.known_absent('/scratch/calc/.aiida')
    assert not listings.known_absent('/scratch/other/.aiida')
    changes[0] = 1
    assert not listings.known_absent('/scratch/calc/.aiida')


def test_absence_is_not_trusted_in_a_listed_directory_not_made_here() -> None:
    listings = _listings([0], _Clock())
    listings.created('/scratch/run')
    listings.remember('/scratch/run', [])
    assert not listings.known_absent('/scratch/run/absent')
