"""Directory trees move as one tar archive each way: constant request counts, links and nesting kept."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pytest

from aiida_firecrest.archives import unpack
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport


def make_tree(root: Path, files: int) -> dict[str, bytes]:
    """``files`` files spread over nested directories (depth up to 4); returns their contents by path."""
    contents = {}
    for index in range(files):
        relative = Path(*[f'd{index % (level + 2)}' for level in range(index % 4)], f'f{index}.dat')
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        contents[str(relative)] = os.urandom(index * 7)
        (root / relative).write_bytes(contents[str(relative)])
    return contents


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob('*')
        if p.is_file() and not p.is_symlink()
    }


def test_puttree_and_gettree_of_100_nested_files_take_a_constant_number_of_requests(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    contents = make_tree(local_dir / 'tree', 100)

    async def scenario(t: FirecrestTransport) -> tuple[dict[str, int] | None, dict[str, int] | None]:
        clear_server_facts()
        counted_if_demo()
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree')
        put = counted_if_demo()
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back')
        return put, counted_if_demo()

    put, get = with_transport(scenario)
    assert read_tree(remote_files.mirror(remote_dir / 'tree')) == contents
    assert read_tree(local_dir / 'back') == contents
    if put is not None and get is not None:
        assert sum(put.values()) == 4  # stat of the target, upload, extract, removal of the archive
        assert sum(get.values()) == 4  # compress, size of the archive, download, removal of the archive


def test_puttree_into_an_existing_directory_nests_the_source(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    make_tree(local_dir / 'src', 3)

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.mkdir_async(remote_dir / 'dest')
        await t.puttree_async(local_dir / 'src', remote_dir / 'dest')
        return await t.listdir_async(remote_dir / 'dest')

    assert with_transport(scenario) == ['src']


def test_puttree_creates_missing_parents(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    make_tree(local_dir / 'src', 2)

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'src', remote_dir / 'a' / 'b' / 'c')

    with_transport(scenario)
    assert remote_files.exists(remote_dir / 'a' / 'b' / 'c' / 'f0.dat')


@pytest.mark.parametrize('dereference', [True, False])
def test_gettree_follows_links_only_when_asked(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    dereference: bool,
) -> None:
    root = remote_dir / 'tree'
    remote_files.mkdir(root)
    links = {'sub/relative-link': '../data.txt', 'absolute-link': str(root / 'data.txt')}
    remote_files.populate(root, {'data.txt': 'data'}, links)

    async def scenario(t: FirecrestTransport) -> None:
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back', dereference=dereference)

    with_transport(scenario)
    back = local_dir / 'back'
    assert (back / 'sub' / 'relative-link').read_text() == 'data'
    assert (back / 'sub' / 'relative-link').is_symlink() is not dereference
    assert (back / 'absolute-link').is_symlink() is not dereference
    if not dereference:
        assert os.readlink(back / 'absolute-link') == str(root / 'data.txt')


def test_puttree_keeps_links_without_dereference(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    (local_dir / 'tree').mkdir()
    (local_dir / 'tree' / 'data.txt').write_text('data')
    (local_dir / 'tree' / 'link').symlink_to('data.txt')

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree', dereference=False)

    with_transport(scenario)
    assert os.readlink(remote_files.mirror(remote_dir / 'tree') / 'link') == 'data.txt'


def test_gettree_of_a_file_is_refused_and_leaves_nothing(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    remote_files.write(remote_dir / 'file', 'f')

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(NotADirectoryError):
            await t.gettree_async(remote_dir / 'file', local_dir / 'back')

    with_transport(scenario)
    assert list(local_dir.iterdir()) == []


def test_server_temporary_archives_are_removed(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    make_tree(local_dir / 'tree', 5)
    temp = remote_dir / 'temp'
    remote_files.mkdir(temp)

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree')
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back')
        with pytest.raises(FileNotFoundError):
            await t.gettree_async(remote_dir / 'missing', local_dir / 'none')

    with_transport(scenario, temp_directory=str(temp))
    assert remote_files.names(temp) == []
    assert sorted(p.name for p in local_dir.iterdir()) == ['back', 'tree']


def test_a_trailing_slash_moves_the_contents_of_a_directory(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    """As the engine uploads a ``local_copy_list`` folder: ``put('dir/', existing)`` puts what is inside."""
    make_tree(local_dir / 'src', 4)
    (local_dir / 'back').mkdir()

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.mkdir_async(remote_dir / 'dest')
        await t.put_async(f'{local_dir / "src"}/', remote_dir / 'dest')
        await t.get_async(f'{remote_dir / "dest"}/', local_dir / 'back')
        return sorted(await t.listdir_async(remote_dir / 'dest'))

    assert with_transport(scenario) == sorted(p.name for p in (local_dir / 'src').iterdir())
    assert read_tree(local_dir / 'back') == read_tree(local_dir / 'src')


@pytest.mark.parametrize('existing', [True, False], ids=['into-existing', 'into-new'])
@pytest.mark.parametrize('files', [1, 2, 5], ids=['one-file', 'two-files', 'five-files'])
def test_the_contents_of_a_directory_go_where_asked_without_a_question_first(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    files: int,
    existing: bool,
) -> None:
    """``put('dir/', remote)``: no stat; a few small files as direct uploads, more as one archive."""
    for index in range(files):
        (local_dir / 'src' / f'f{index}.txt').parent.mkdir(exist_ok=True)
        (local_dir / 'src' / f'f{index}.txt').write_text(f'file {index}')
    if existing:
        remote_files.mkdir(remote_dir / 'dest')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        await t.put_async(f'{local_dir / "src"}/', remote_dir / 'dest')
        return counted_if_demo()

    counts = with_transport(scenario)
    assert remote_files.names(remote_dir / 'dest') == [f'f{index}.txt' for index in range(files)]
    assert remote_files.read_text(remote_dir / 'dest' / 'f0.txt') == 'file 0'
    if counts is not None and existing:
        upload, extract, remove = (
            f'{method} /filesystem/{{system_name}}/ops/{op}'
            for method, op in (('POST', 'upload'), ('POST', 'extract'), ('DELETE', 'rm'))
        )
        archive = {upload: 1, extract: 1, remove: 1}
        assert counts == ({upload: files} if files < 3 else archive)


def test_a_missing_server_temp_directory_is_created_on_first_use(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    contents = make_tree(local_dir / 'tree', 3)
    temp = remote_dir / 'not-yet' / 'temp'

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'tree', remote_dir / 'tree')
        await t.gettree_async(remote_dir / 'tree', local_dir / 'back')

    with_transport(scenario, temp_directory=str(temp))
    assert read_tree(local_dir / 'back') == contents
    assert remote_files.names(temp) == []


Member = tuple[str, str, bytes | str]
"""``(name, kind, content or link target)`` of an archive member."""


def write_archive(path: Path, members: Sequence[Member]) -> None:
    """A tar archive of ``(name, kind, content or link target)``, kind ``file``, ``dir`` or ``hardlink``."""
    with tarfile.open(path, 'w') as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == 'file':
                assert isinstance(value, bytes)
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            info.type = tarfile.DIRTYPE if kind == 'dir' else tarfile.LNKTYPE
            info.linkname = str(value)
            tar.addfile(info)


GNU_TAR_FOLLOWING_LINKS: list[Member] = [
    ('tree', 'dir', ''),
    ('tree/data.txt', 'file', b'data'),
    ('tree/sub', 'dir', ''),
    ('tree/sub/relative-link', 'hardlink', 'tree/data.txt'),
    ('tree/absolute-link', 'hardlink', 'tree/data.txt'),
]
"""What GNU tar ``--dereference`` writes for ``tree`` holding ``data.txt`` and two links to it."""


def test_hard_links_of_a_server_archive_are_resolved_after_stripping(tmp_path: Path) -> None:
    write_archive(tmp_path / 'a.tar', GNU_TAR_FOLLOWING_LINKS)
    (tmp_path / 'out').mkdir()
    assert unpack(tmp_path / 'a.tar', tmp_path / 'out', strip=1) == ['absolute-link', 'data.txt', 'sub']
    for name in ('data.txt', 'sub/relative-link', 'absolute-link'):
        assert (tmp_path / 'out' / name).read_bytes() == b'data'


def test_a_hard_link_whose_target_is_stripped_away_is_skipped(tmp_path: Path) -> None:
    """As ``tar --strip-components`` does: ``tree/data.txt`` itself is stripped away with two components."""
    write_archive(tmp_path / 'a.tar', GNU_TAR_FOLLOWING_LINKS)
    (tmp_path / 'out').mkdir()
    assert unpack(tmp_path / 'a.tar', tmp_path / 'out', strip=2) == []
    assert list((tmp_path / 'out').iterdir()) == []


def test_a_hard_link_out_of_the_destination_is_refused(tmp_path: Path) -> None:
    escaping: list[Member] = [('tree', 'dir', ''), ('tree/link', 'hardlink', 'tree/../../etc/passwd')]
    write_archive(tmp_path / 'a.tar', escaping)
    (tmp_path / 'out').mkdir()
    with pytest.raises(ValueError, match="archive member 'link' is unsafe: it is a hard link to"):
        unpack(tmp_path / 'a.tar', tmp_path / 'out', strip=1)
