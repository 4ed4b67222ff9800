"""Bad input is refused with a clear error or handled correctly; nothing is ever written outside the target.

Remote paths the server cannot handle are refused before any request (:mod:`aiida_firecrest.paths`);
an archive from the server is extracted only inside the local destination (:func:`.transfer.unpack`).
"""

from __future__ import annotations

import errno
import io
import os
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

import pytest

from aiida_firecrest.archives import unpack
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport

LONG_NAMES = {'256-ascii': 'x' * 256, '256-bytes-in-128-characters': 'é' * 128}

RemoteCall = Callable[[FirecrestTransport, str, Path], Awaitable[object]]
"""A transport method on a remote path, with the local inputs directory."""

CALLS: dict[str, RemoteCall] = {
    'putfile': lambda t, remote, local: t.putfile_async(local / 'file', remote),
    'getfile': lambda t, remote, local: t.getfile_async(remote, local / 'back'),
    'puttree': lambda t, remote, local: t.puttree_async(local / 'tree', remote),
    'gettree': lambda t, remote, local: t.gettree_async(remote, local / 'back'),
    'listdir': lambda t, remote, local: t.listdir_async(remote),
    'mkdir': lambda t, remote, local: t.mkdir_async(remote),
}


@pytest.fixture
def local_inputs(local_dir: Path) -> Path:
    (local_dir / 'file').write_text('file')
    (local_dir / 'tree' / 'sub').mkdir(parents=True)
    (local_dir / 'tree' / 'sub' / 'data.txt').write_text('data')
    return local_dir


@pytest.mark.parametrize('call', CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize('name', LONG_NAMES.values(), ids=LONG_NAMES.keys())
def test_a_remote_name_longer_than_255_bytes_is_refused_with_enametoolong_before_any_request(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    local_inputs: Path,
    call: RemoteCall,
    name: str,
) -> None:
    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(OSError, match='longer than 255 bytes') as raised:
            await call(t, f'{remote_dir}/{name}/inside', local_inputs)
        assert raised.value.errno == errno.ENAMETOOLONG
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)


@pytest.mark.parametrize('call', [CALLS['puttree'], CALLS['gettree']], ids=['puttree', 'gettree'])
@pytest.mark.parametrize(
    ('char', 'description'), [("'", 'single quote'), ('\0', 'NUL')], ids=['quote', 'nul']
)
def test_a_tree_whose_remote_path_the_server_mishandles_is_refused_before_any_request(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    local_inputs: Path,
    call: RemoteCall,
    char: str,
    description: str,
) -> None:
    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(ValueError, match=description):
            await call(t, f'{remote_dir}/it{char}s', local_inputs)
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)


def test_puttree_of_a_local_path_ending_in_dotdot_uploads_the_directory_it_names_inside_the_target(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_inputs: Path
) -> None:
    """``tree/sub/..`` is ``tree``: it goes to ``dest/tree``, never as ``..`` above ``dest``."""
    remote_files.mkdir(remote_dir / 'dest')

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(f'{local_inputs}/tree/sub/..', remote_dir / 'dest')

    with_transport(scenario)
    assert remote_files.names(remote_dir) == ['dest']
    assert remote_files.read_text(remote_dir / 'dest' / 'tree' / 'sub' / 'data.txt') == 'data'


def test_puttree_of_a_local_path_ending_in_dot_uploads_the_directory_it_names(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_inputs: Path
) -> None:
    remote_files.mkdir(remote_dir / 'dest')

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(f'{local_inputs}/tree/.', remote_dir / 'dest')

    with_transport(scenario)
    assert remote_files.names(remote_dir / 'dest') == ['tree']


def test_a_remote_path_with_dotdot_means_its_normal_form(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_inputs: Path
) -> None:
    remote_files.mkdir(remote_dir / 'sub')

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_inputs / 'file', f'{remote_dir}/sub/../file')
        await t.puttree_async(local_inputs / 'tree', f'{remote_dir}/sub/../../{remote_dir.name}/tree')

    with_transport(scenario)
    assert sorted(remote_files.names(remote_dir)) == ['file', 'sub', 'tree']


@pytest.mark.parametrize(
    'name', ["it's", 'two\nlines', 'x' * 255, 'é' * 127], ids=['quote', 'newline', '255-bytes', '254-bytes-é']
)
def test_a_tree_with_an_odd_or_longest_name_round_trips(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_inputs: Path,
    name: str,
) -> None:
    """The name travels inside the archive (a quote, a newline), or is as long as a name may be."""
    (local_inputs / 'tree').rename(local_inputs / name)

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_inputs / name, remote_dir)
        await t.gettree_async(remote_dir, local_inputs / 'back')

    with_transport(scenario)
    assert [p.name for p in remote_files.mirror(remote_dir).iterdir()] == [name]
    assert (local_inputs / 'back' / name / 'sub' / 'data.txt').read_text() == 'data'


@pytest.mark.parametrize('dereference', [False, True], ids=['links-kept', 'links-followed'])
def test_gettree_of_a_link_out_of_the_tree_writes_nothing_outside_the_local_target(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    dereference: bool,
) -> None:
    outside = remote_dir / 'outside.txt'
    remote_files.write(outside, 'outside')
    remote_files.mkdir(remote_dir / 'tree')
    links = {'out': str(outside)} if dereference else {'out': str(outside), 'up': '../..'}
    remote_files.populate(remote_dir / 'tree', {'data.txt': 'data'}, links)
    before = sorted(p.name for p in local_dir.parent.iterdir())

    async def scenario(t: FirecrestTransport) -> None:
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back', dereference=dereference)

    with_transport(scenario)
    back = local_dir / 'back'
    assert sorted(p.name for p in local_dir.parent.iterdir()) == before
    assert (back / 'out').is_symlink() is not dereference
    if dereference:
        assert (back / 'out').read_text() == 'outside'
    else:
        assert os.readlink(back / 'out') == str(outside)
        assert os.readlink(back / 'up') == '../..'


@pytest.mark.parametrize('dereference', [False, True], ids=['links-kept', 'links-followed'])
def test_puttree_of_a_link_out_of_the_tree_writes_nothing_outside_the_remote_target(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    dereference: bool,
) -> None:
    (local_dir / 'outside.txt').write_text('outside')
    (local_dir / 'tree').mkdir()
    (local_dir / 'tree' / 'data.txt').write_text('data')
    (local_dir / 'tree' / 'out').symlink_to(local_dir / 'outside.txt')

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree', dereference=dereference)

    with_transport(scenario)
    assert remote_files.names(remote_dir) == ['tree']
    mirror = remote_files.mirror(remote_dir / 'tree')
    assert sorted(p.name for p in mirror.iterdir()) == ['data.txt', 'out']
    if dereference:
        assert (mirror / 'out').read_text() == 'outside'
    else:
        assert os.readlink(mirror / 'out') == str(local_dir / 'outside.txt')


def test_gettree_replaces_a_local_link_out_of_the_target_instead_of_writing_through_it(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    remote_files.mkdir(remote_dir / 'tree')
    remote_files.populate(remote_dir / 'tree', {'sub/data.txt': 'new'}, {})
    (local_dir / 'elsewhere').mkdir()
    (local_dir / 'back').mkdir()
    (local_dir / 'back' / 'sub').symlink_to(local_dir / 'elsewhere')

    async def scenario(t: FirecrestTransport) -> None:
        await t.gettree_async(f'{remote_dir}/tree/', local_dir / 'back')

    with_transport(scenario)
    assert list((local_dir / 'elsewhere').iterdir()) == []
    assert not (local_dir / 'back' / 'sub').is_symlink()
    assert (local_dir / 'back' / 'sub' / 'data.txt').read_text() == 'new'


# ------------------------------------------------------------------------- archives from the server


def archive(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """A tar archive of ``(name, kind, content or link target)``; kind ``file``, ``dir``, ``symlink``,
    ``hardlink`` or ``fifo``."""
    types = {'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE}
    types['fifo'] = tarfile.FIFOTYPE
    with tarfile.open(path, 'w') as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == 'file':
                info.size = len(value.encode())
                tar.addfile(info, io.BytesIO(value.encode()))
                continue
            info.type = types[kind]
            info.linkname = value
            tar.addfile(info)
    return path


ESCAPING_ARCHIVES = {
    'dotdot-file': [('tree', 'dir', ''), ('tree/../../evil', 'file', 'evil')],
    'dotdot-symlink': [('tree', 'dir', ''), ('tree/../../evil', 'symlink', '/etc/passwd')],
    'hardlink-out': [('tree', 'dir', ''), ('tree/link', 'hardlink', 'tree/../../evil')],
    'file-through-symlink': [
        ('tree', 'dir', ''),
        ('tree/lnk', 'symlink', '../../elsewhere'),
        ('tree/lnk/evil', 'file', 'evil'),
    ],
    'symlink-through-symlink': [
        ('tree', 'dir', ''),
        ('tree/lnk', 'symlink', '../../elsewhere'),
        ('tree/lnk/evil', 'symlink', '/etc/passwd'),
    ],
    'device': [('tree', 'dir', ''), ('tree/fifo', 'fifo', '')],
}


@pytest.mark.parametrize('members', ESCAPING_ARCHIVES.values(), ids=ESCAPING_ARCHIVES.keys())
def test_an_archive_member_escaping_the_destination_is_refused_and_nothing_is_written_outside(
    tmp_path: Path, members: list[tuple[str, str, str]]
) -> None:
    (tmp_path / 'elsewhere').mkdir()
    (tmp_path / 'out').mkdir()
    with pytest.raises(ValueError, match='archive member'):
        unpack(archive(tmp_path / 'a.tar', members), tmp_path / 'out', strip=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.tar', 'elsewhere', 'out']
    assert list((tmp_path / 'elsewhere').iterdir()) == []


def test_an_absolute_archive_member_is_extracted_inside_the_destination(tmp_path: Path) -> None:
    (tmp_path / 'out').mkdir()
    unpack(archive(tmp_path / 'a.tar', [('/tree/data.txt', 'file', 'data')]), tmp_path / 'out', strip=1)
    assert (tmp_path / 'out' / 'data.txt').read_text() == 'data'


def test_a_symlink_member_pointing_out_of_the_tree_is_kept_as_a_link(tmp_path: Path) -> None:
    (tmp_path / 'out').mkdir()
    members = [('tree', 'dir', ''), ('tree/up', 'symlink', '../../..'), ('tree/abs', 'symlink', '/etc')]
    unpack(archive(tmp_path / 'a.tar', members), tmp_path / 'out', strip=1)
    assert (os.readlink(tmp_path / 'out' / 'up'), os.readlink(tmp_path / 'out' / 'abs')) == (
        '../../..',
        '/etc',
    )
