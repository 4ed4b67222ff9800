"""File operations of FirecrestTransport against the FirecREST server, with their request budgets.

The behaviour is checked on any server (the remote state through ``remote_files``); request budgets
only where the demo server counts them (``counted``, ``counted_if_demo``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from firecrest.v2 import Firecrest

from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import DemoHandle, RemoteFiles, RemoteHandle
from tests.transport.fixture_types import Counted, CountedIfDemo, WithTransport

DEFAULT_MAX_OPS_FILE_SIZE = 5 * 1024 * 1024
"""``max_ops_file_size`` of a server whose connection file does not give it (the real server's value)."""


def test_putfile_of_a_small_file_sends_one_request_and_getfile_two_from_the_first_call(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    """No lookup of the server's limit for a file any server moves directly; a download asks its size."""
    content = os.urandom(3000)
    (local_dir / 'in.bin').write_bytes(content)
    remote = str(remote_dir / 'file.bin')

    async def scenario(t: FirecrestTransport) -> list[dict[str, int] | None]:
        clear_server_facts()
        counted_if_demo()
        await t.putfile_async(local_dir / 'in.bin', remote)
        put = counted_if_demo()
        await t.getfile_async(remote, local_dir / 'out.bin')
        return [put, counted_if_demo()]

    put, get = with_transport(scenario)
    assert remote_files.read_bytes(remote) == content
    assert (local_dir / 'out.bin').read_bytes() == content
    if put is not None and get is not None:
        assert put == {'POST /filesystem/{system_name}/ops/upload': 1}
        assert get == {
            'GET /filesystem/{system_name}/ops/stat': 1,
            'GET /filesystem/{system_name}/ops/download': 1,
        }


def test_empty_file_round_trip_avoids_a_direct_upload(
    with_transport: WithTransport, counted_if_demo: CountedIfDemo, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    """The real server answers a 0-byte direct upload with 408 after its command timeout (10 s)."""
    (local_dir / 'empty').write_bytes(b'')
    remote = str(remote_dir / 'empty')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        clear_server_facts()
        counted_if_demo()
        await t.putfile_async(local_dir / 'empty', remote)
        requests = counted_if_demo()
        await t.getfile_async(remote, local_dir / 'back')
        return requests

    requests = with_transport(scenario)
    assert (local_dir / 'back').read_bytes() == b''
    if requests is not None:
        assert 'POST /filesystem/{system_name}/ops/extract' in requests
        assert sum(requests.values()) <= 3


STAGED_BUDGET = {'2': 10, '1': 13}
"""At most this many requests for a staged round trip (v1 also polls its transfer tasks)."""


@pytest.mark.slow
def test_staged_transfer_above_the_threshold_round_trips(
    with_transport: WithTransport, counted: Counted, api: str, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    content = os.urandom(40_000)
    (local_dir / 'big.bin').write_bytes(content)
    remote = str(remote_dir / 'big.bin')

    async def scenario(t: FirecrestTransport) -> dict[str, int]:
        counted()
        await t.putfile_async(local_dir / 'big.bin', remote)
        await t.getfile_async(remote, local_dir / 'back.bin')
        return counted()

    requests = with_transport(scenario, small_file_size_mb=0.01)
    assert (local_dir / 'back.bin').read_bytes() == content
    assert requests.get('POST /filesystem/{system_name}/transfer/upload') == 1
    assert requests.get('POST /filesystem/{system_name}/transfer/download') == 1
    assert requests.get('GET /filesystem/{system_name}/ops/download') is None
    assert requests.get('GET /filesystem/{system_name}/ops/checksum') == 2
    assert requests.get('GET /filesystem/{system_name}/ops/view') is None  # no job log read on success
    assert sum(requests.values()) <= STAGED_BUDGET[api]


def test_listdir_and_listdir_withattributes_send_one_request_each(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
) -> None:
    files = {f'f{index}': 'x' * index for index in range(30)}
    remote_files.populate(remote_dir, {**files, '.hidden': 'h', 'sub/.keep': 'k'})

    async def scenario(
        t: FirecrestTransport,
    ) -> tuple[list[str], dict[str, int] | None, list[dict[str, Any]], dict[str, int] | None, list[str]]:
        counted_if_demo()
        names = await t.listdir_async(remote_dir)
        plain = counted_if_demo()
        entries = await t.listdir_withattributes_async(remote_dir)
        return names, plain, entries, counted_if_demo(), await t.listdir_async(remote_dir, 'f1?')

    names, plain, entries, with_attributes, matching = with_transport(scenario)
    assert sorted(names) == sorted([f'f{i}' for i in range(30)] + ['sub', '.hidden'])
    if plain is not None:
        assert with_attributes is not None
        assert sum(plain.values()) == sum(with_attributes.values()) == 1
    by_name = {entry['name']: entry for entry in entries}
    assert by_name['sub']['isdir'] and not by_name['f7']['isdir']
    assert by_name['f7']['attributes']['st_size'] == 7
    assert stat.S_ISREG(by_name['f7']['attributes']['st_mode'])
    assert sorted(matching) == [f'f{i}' for i in range(10, 20)]


def test_directories_are_created_and_removed_with_aiidas_semantics(
    with_transport: WithTransport, remote_dir: PurePosixPath
) -> None:
    base = remote_dir / 'a'

    async def scenario(t: FirecrestTransport) -> None:
        await t.makedirs_async(base / 'b' / 'c')
        with pytest.raises(FileExistsError):
            await t.makedirs_async(base / 'b')
        await t.makedirs_async(base / 'b', ignore_existing=True)
        with pytest.raises(FileExistsError):
            await t.mkdir_async(base)
        await t.mkdir_async(base, ignore_existing=True)
        with pytest.raises(OSError, match='not empty'):
            await t.rmdir_async(base / 'b')
        with pytest.raises(IsADirectoryError):
            await t.remove_async(base / 'b')
        await t.rmdir_async(base / 'b' / 'c')
        await t.rmtree_async(base)
        assert not await t.path_exists_async(base)

    with_transport(scenario)


def test_chmod_to_zero_reads_back_zero(with_transport: WithTransport, remote_dir: PurePosixPath) -> None:
    async def scenario(t: FirecrestTransport) -> tuple[int, int]:
        await t.mkdir_async(remote_dir / 'd')
        await t.chmod_async(remote_dir / 'd', 0o750)
        first = await t.get_mode_async(remote_dir / 'd')
        await t.chmod_async(remote_dir / 'd', 0)
        zero = await t.get_mode_async(remote_dir / 'd')
        await t.chmod_async(remote_dir / 'd', 0o700)  # removable again by a user who is not root
        return first, zero

    assert with_transport(scenario) == (0o750, 0)


def test_symlinks_are_created_and_described_as_links(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    remote_files.write(remote_dir / 'target.txt', 't')

    async def scenario(t: FirecrestTransport) -> tuple[bool, bool]:
        await t.symlink_async(remote_dir / 'target.txt', remote_dir / 'link')
        attributes = await t.get_attribute_async(remote_dir / 'link')
        return stat.S_ISLNK(attributes.st_mode), await t.isfile_async(remote_dir / 'link')

    assert with_transport(scenario) == (True, True)
    assert os.readlink(remote_files.mirror(remote_dir) / 'link') == str(remote_dir / 'target.txt')


def test_rename_moves_and_refuses_an_existing_destination(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    remote_files.populate(remote_dir, {'old': 'old', 'other': 'other'})

    async def scenario(t: FirecrestTransport) -> None:
        await t.rename_async(remote_dir / 'old', remote_dir / 'new')
        with pytest.raises(OSError, match='destination exists'):
            await t.rename_async(remote_dir / 'new', remote_dir / 'other')

    with_transport(scenario)
    after = remote_files.mirror(remote_dir)
    assert sorted(p.name for p in after.iterdir()) == ['new', 'other']
    assert (after / 'new').read_text() == 'old'
    assert (after / 'other').read_text() == 'other'


def test_copy_of_files_and_trees_follows_cp_semantics(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    remote_files.populate(remote_dir, {'src/deep/f': 'f', 'src/g.txt': 'g'})

    async def scenario(t: FirecrestTransport) -> None:
        await t.copyfile_async(remote_dir / 'src' / 'g.txt', remote_dir / 'g-copy.txt')
        await t.copytree_async(remote_dir / 'src', remote_dir / 'tree-copy')
        await t.mkdir_async(remote_dir / 'into')
        await t.copy_async(remote_dir / 'src', remote_dir / 'into')
        with pytest.raises(OSError):
            await t.copyfile_async(remote_dir / 'src', remote_dir / 'not-a-file')

    with_transport(scenario)
    root = remote_files.mirror(remote_dir)
    assert (root / 'g-copy.txt').read_text() == 'g'
    assert (root / 'tree-copy' / 'deep' / 'f').read_text() == 'f'
    assert (root / 'into' / 'src' / 'deep' / 'f').read_text() == 'f'


@pytest.mark.parametrize('dereference', [True, False])
def test_copy_with_dereference_copies_what_links_point_to(
    dereference: bool, with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    remote_files.populate(
        remote_dir,
        {'data.txt': 'data', 'src/f': 'f'},
        links={'link.txt': 'data.txt', 'src/up': '../data.txt'},
    )

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.copyfile_async(remote_dir / 'link.txt', remote_dir / 'file-copy', dereference=dereference)
        await t.copytree_async(remote_dir / 'src', remote_dir / 'tree-copy', dereference=dereference)
        await t.mkdir_async(remote_dir / 'into')
        await t.copy_async(remote_dir / 'src', remote_dir / 'into', dereference=dereference)
        return await t.listdir_async(remote_dir)

    names = with_transport(scenario)
    root = remote_files.mirror(remote_dir)
    for copied in (root / 'file-copy', root / 'tree-copy' / 'up', root / 'into' / 'src' / 'up'):
        if dereference:
            assert not copied.is_symlink() and copied.read_text() == 'data'
        else:
            assert os.readlink(copied).endswith('data.txt')
    assert (root / 'tree-copy' / 'f').read_text() == 'f'
    assert sorted(names) == ['data.txt', 'file-copy', 'into', 'link.txt', 'src', 'tree-copy']  # nothing left


def test_whoami_is_the_owner_of_what_the_user_creates(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    firecrest_sync: Firecrest,
    firecrest_server: DemoHandle | RemoteHandle,
) -> None:
    listing = firecrest_sync.list_files(firecrest_server.config['compute_resource'], str(remote_dir.parent))
    owner = next(entry['user'] for entry in listing if entry['name'] == remote_dir.name)

    async def scenario(t: FirecrestTransport) -> str:
        return await t.whoami_async()

    assert with_transport(scenario) == owner


def test_whoami_asks_the_server_once(
    with_transport: WithTransport, counted: Counted, demo_only: DemoHandle
) -> None:
    async def scenario(t: FirecrestTransport) -> tuple[str, str]:
        clear_server_facts()
        counted()
        return await t.whoami_async(), await t.whoami_async()

    first, second = with_transport(scenario)
    assert first == second == demo_only.settings.username
    assert counted() == {'GET /status/{system_name}/userinfo': 1}


def test_glob_matches_every_level(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    remote_files.populate(
        remote_dir, dict.fromkeys(('a/x.txt', 'a/y.in', 'b/z.txt', 'c.txt', '.hidden.txt'), '.')
    )

    async def scenario(t: FirecrestTransport) -> tuple[list[str], list[str], list[str]]:
        return (
            await t.glob_async(f'{remote_dir}/*/*.txt'),
            await t.glob_async(f'{remote_dir}/*.txt'),
            await t.glob_async(f'{remote_dir}/missing/*'),
        )

    nested, top, missing = with_transport(scenario)
    assert nested == [f'{remote_dir}/a/x.txt', f'{remote_dir}/b/z.txt']
    assert top == [f'{remote_dir}/c.txt']
    assert missing == []


def test_command_execution_is_not_offered(with_transport: WithTransport) -> None:
    async def scenario(t: FirecrestTransport) -> str:
        with pytest.raises(NotImplementedError, match='no remote command execution'):
            await t.exec_command_wait_async('ls')
        return t.gotocomputer_command('/scratch/run')

    command = with_transport(scenario)
    assert command.startswith('echo ') and 'no interactive shell' in command


@pytest.mark.parametrize(
    ('operation', 'expected'),
    [
        ('getfile_missing', FileNotFoundError),
        ('listdir_of_a_file', NotADirectoryError),
        ('chmod_missing', FileNotFoundError),
        ('mkdir_without_parent', FileNotFoundError),
        ('get_attribute_missing', FileNotFoundError),
    ],
)
def test_server_errors_become_os_errors_with_the_path(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    operation: str,
    expected: type,
) -> None:
    remote_files.write(remote_dir / 'file', 'f')
    missing = remote_dir / 'missing'
    calls = {
        'getfile_missing': lambda t: t.getfile_async(missing, local_dir / 'x'),
        'listdir_of_a_file': lambda t: t.listdir_async(remote_dir / 'file'),
        'chmod_missing': lambda t: t.chmod_async(missing, 0o700),
        'mkdir_without_parent': lambda t: t.mkdir_async(missing / 'child'),
        'get_attribute_missing': lambda t: t.get_attribute_async(missing),
    }

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(expected) as info:
            await calls[operation](t)
        assert str(remote_dir) in str(info.value)

    with_transport(scenario)
    assert not (local_dir / 'x').exists()


@pytest.mark.parametrize('path', ['', 'relative/path'])
def test_empty_or_relative_remote_paths_fail_before_any_request(
    with_transport: WithTransport, counted_if_demo: CountedIfDemo, path: str
) -> None:
    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        with pytest.raises(OSError):
            await t.chmod_async(path, 0o700)
        return counted_if_demo()

    assert with_transport(scenario) in ({}, None)


def test_an_unknown_path_is_neither_file_nor_directory(
    with_transport: WithTransport, remote_dir: PurePosixPath
) -> None:
    async def scenario(t: FirecrestTransport) -> tuple[bool, ...]:
        missing = PurePosixPath(remote_dir) / 'nothing'
        return await t.isfile_async(missing), await t.isdir_async(missing), await t.path_exists_async(missing)

    assert with_transport(scenario) == (False, False, False)


def test_the_filesystem_root_is_an_existing_directory(with_transport: WithTransport) -> None:
    async def scenario(t: FirecrestTransport) -> tuple[bool, ...]:
        return await t.isdir_async('/'), await t.path_exists_async('/')

    assert with_transport(scenario) == (True, True)


def test_put_of_a_small_file_into_an_existing_directory(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
) -> None:
    (local_dir / 'in.txt').write_text('in')

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        await t.mkdir_async(remote_dir / 'dir')
        clear_server_facts()
        counted_if_demo()
        await t.put_async(local_dir / 'in.txt', remote_dir / 'new.txt')
        first = counted_if_demo()
        await t.put_async(local_dir / 'in.txt', remote_dir / 'dir')
        return first

    requests = with_transport(scenario)
    after = remote_files.mirror(remote_dir)
    assert (after / 'dir' / 'in.txt').read_text() == 'in'
    assert (after / 'new.txt').read_text() == 'in'
    if requests is not None:
        assert sum(requests.values()) == 1


def test_put_with_a_pattern_uploads_every_match_into_the_directory(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    for index in range(6):
        (local_dir / f'f{index}.txt').write_text(str(index))
    (local_dir / 'skip.dat').write_text('no')

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.put_async(f'{local_dir}/*.txt', remote_dir)
        return await t.listdir_async(remote_dir)

    assert sorted(with_transport(scenario)) == [f'f{index}.txt' for index in range(6)]


@pytest.mark.slow
def test_staged_transfer_of_a_name_with_a_space_is_verified(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    content = os.urandom(20_000)
    (local_dir / 'big file').write_bytes(content)

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_dir / 'big file', remote_dir / 'big file')
        await t.getfile_async(remote_dir / 'big file', local_dir / 'back file')

    with_transport(scenario, small_file_size_mb=0.01)
    assert (local_dir / 'back file').read_bytes() == content


@pytest.mark.slow
@pytest.mark.parametrize('times_the_limit', [0.8, 2.4])
def test_a_file_too_large_for_a_direct_download_goes_staged_without_trying_directly(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    firecrest_server: DemoHandle | RemoteHandle,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    local_dir: Path,
    times_the_limit: float,
) -> None:
    """Its size decides: a direct try would cost a 413, or for 12 MiB the server's command timeout (408).

    The content repeats one random block, so that the set-up archive stays small (a direct upload).
    """
    limit = firecrest_server.config.get('max_ops_file_size', DEFAULT_MAX_OPS_FILE_SIZE)
    size = int(limit * times_the_limit)
    content = (os.urandom(4096) * (size // 4096 + 1))[:size]
    remote_files.write(remote_dir / 'large.bin', content)

    async def scenario(t: FirecrestTransport) -> None:
        counted_if_demo()
        await t.getfile_async(remote_dir / 'large.bin', local_dir / 'large.bin')

    with_transport(scenario)
    assert (local_dir / 'large.bin').read_bytes() == content
    requests = counted_if_demo()
    if requests is not None:
        assert 'GET /filesystem/{system_name}/ops/download' not in requests
        assert requests['POST /filesystem/{system_name}/transfer/download'] == 1


@pytest.mark.slow
def test_a_staged_download_of_an_unreadable_file_raises_permission_error(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    """The server's job fails (its ``dd`` cannot read the file); its error log gives the reason."""
    remote_files.write(remote_dir / 'secret.bin', b's' * 50_000)
    remote_files.chmod(remote_dir / 'secret.bin', 0)

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(PermissionError, match='Permission denied'):
            await t.getfile_async(remote_dir / 'secret.bin', local_dir / 'secret.bin')

    with_transport(scenario, small_file_size_mb=0.01)
    assert list(local_dir.iterdir()) == []


@pytest.mark.parametrize('ignore_nonexisting', [True, False])
def test_get_of_a_missing_path(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path, ignore_nonexisting: bool
) -> None:
    async def scenario(t: FirecrestTransport) -> None:
        await t.get_async(remote_dir / 'missing', local_dir / 'x', ignore_nonexisting=ignore_nonexisting)

    if ignore_nonexisting:
        with_transport(scenario)
    else:
        with pytest.raises(FileNotFoundError, match='does not exist'):
            with_transport(scenario)
    assert list(local_dir.iterdir()) == []
