"""compress / extract: AiiDA's archive API (stashing) through the server's tar."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from aiida.transports.transport import TransportPath

from aiida_firecrest.transport import FirecrestTransport
from tests._harness import RemoteFiles
from tests.transport.fixture_types import CountedIfDemo, WithTransport

FORMATS = ['tar', 'tar.gz', 'tar.bz2', 'tar.xz']


def populate(remote_files: Any, root: Any) -> None:
    remote_files.mkdir(root)
    remote_files.populate(root, {'calc/aiida.out': 'out', 'calc/out/data.txt': 'data', 'other.txt': 'other'})


def members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return sorted(
            member.name.removeprefix('./') for member in tar.getmembers() if member.name not in ('.', './')
        )


@pytest.mark.parametrize('format', FORMATS)
def test_compress_a_child_of_root_dir_in_one_server_request(
    with_transport: WithTransport,
    counted_if_demo: CountedIfDemo,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    format: str,
) -> None:
    populate(remote_files, remote_dir)
    archive = remote_dir / f'stash.{format}'

    async def scenario(t: FirecrestTransport) -> dict[str, int] | None:
        counted_if_demo()
        await t.compress_async(format, remote_dir / 'calc', archive, root_dir=remote_dir)
        return counted_if_demo()

    requests = with_transport(scenario)
    if requests is not None:
        assert requests.get('POST /filesystem/{system_name}/ops/compress') == 1
    assert members(remote_files.mirror(archive)) == [
        'calc',
        'calc/aiida.out',
        'calc/out',
        'calc/out/data.txt',
    ]


def test_compress_of_deep_sources_and_globs_names_them_relative_to_root_dir(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    populate(remote_files, remote_dir)
    archive = remote_dir / 'stash.tar.gz'

    async def scenario(t: FirecrestTransport) -> None:
        sources: list[TransportPath] = [
            remote_dir / 'calc' / 'out' / 'data.txt',
            remote_dir / 'calc' / '*.out',
        ]
        await t.compress_async('tar.gz', sources, archive, root_dir=remote_dir)

    with_transport(scenario)
    names = members(remote_files.mirror(archive))
    assert 'calc/out/data.txt' in names and 'calc/aiida.out' in names and 'other.txt' not in names


def test_compress_of_root_dir_itself_has_no_top_directory(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    populate(remote_files, remote_dir / 'root')

    async def scenario(t: FirecrestTransport) -> None:
        await t.compress_async(
            'tar', remote_dir / 'root', remote_dir / 'all.tar', root_dir=remote_dir / 'root'
        )

    with_transport(scenario)
    assert members(remote_files.mirror(remote_dir / 'all.tar'))[:2] == ['calc', 'calc/aiida.out']


def test_compress_relative_to_the_filesystem_root_names_members_by_their_absolute_path(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    populate(remote_files, remote_dir)

    async def scenario(t: FirecrestTransport) -> None:
        await t.compress_async('tar', remote_dir / 'calc', remote_dir / 'all.tar', root_dir='/')

    with_transport(scenario)
    calc = str(remote_dir / 'calc').lstrip('/')
    assert f'{calc}/out/data.txt' in members(remote_files.mirror(remote_dir / 'all.tar'))


@pytest.mark.parametrize(
    ('arguments', 'error', 'message'),
    [
        (('zip', 'calc', 'a.zip', '.'), ValueError, 'Unsupported compression format'),
        (('tar', 'missing', 'a.tar', '.'), OSError, 'missing does not exist'),
        (('tar', 'miss*', 'a.tar', '.'), OSError, 'does not exist, or a matching file/folder not found'),
        (('tar', 'calc', 'calc', '.'), OSError, 'is a directory, should include a filename'),
        (
            ('tar', 'calc', 'a.tar', 'nowhere'),
            OSError,
            'The relative root .* does not exist, or is not a directory',
        ),
    ],
)
def test_compress_errors_carry_aiidas_messages(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    arguments: tuple[str, str, str, str],
    error: type[Exception],
    message: str,
) -> None:
    populate(remote_files, remote_dir)
    format, source, destination, root = arguments

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(error, match=message):
            await t.compress_async(format, remote_dir / source, remote_dir / destination, remote_dir / root)

    with_transport(scenario)


def test_compress_refuses_to_overwrite_when_asked(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    populate(remote_files, remote_dir)
    remote_files.write(remote_dir / 'exists.tar', 'old')

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(OSError, match='already exists'):
            await t.compress_async(
                'tar', remote_dir / 'calc', remote_dir / 'exists.tar', remote_dir, overwrite=False
            )

    with_transport(scenario)
    assert remote_files.read_text(remote_dir / 'exists.tar') == 'old'


@pytest.mark.parametrize('format', FORMATS)
def test_extract_recreates_the_tree(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, format: str
) -> None:
    populate(remote_files, remote_dir)

    async def scenario(t: FirecrestTransport) -> None:
        await t.compress_async(format, remote_dir / 'calc', remote_dir / f'a.{format}', root_dir=remote_dir)
        await t.extract_async(remote_dir / f'a.{format}', remote_dir / 'restored')

    with_transport(scenario)
    assert remote_files.read_text(remote_dir / 'restored' / 'calc' / 'out' / 'data.txt') == 'data'


def test_extract_with_strip_components_as_unstashing_does(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles
) -> None:
    populate(remote_files, remote_dir / 'ab' / 'cd')

    async def scenario(t: FirecrestTransport) -> None:
        sources: list[TransportPath] = [
            remote_dir / 'ab' / 'cd' / 'calc' / 'out',
            remote_dir / 'ab' / 'cd' / 'calc' / 'aiida.out',
        ]
        await t.compress_async('tar.gz', sources, remote_dir / 'stash.tar.gz', root_dir=remote_dir)
        await t.extract_async(remote_dir / 'stash.tar.gz', remote_dir / 'unstashed', strip_components=3)

    with_transport(scenario)
    restored = remote_files.mirror(remote_dir / 'unstashed')
    assert sorted(str(p.relative_to(restored)) for p in restored.rglob('*')) == [
        'aiida.out',
        'out',
        'out/data.txt',
    ]


@pytest.mark.parametrize(
    ('content', 'message'),
    [(None, 'does not exist'), (b'not an archive', 'Error while extracting the tar archive')],
)
def test_extract_errors(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    remote_files: RemoteFiles,
    content: bytes | None,
    message: str,
) -> None:
    if content is not None:
        remote_files.write(remote_dir / 'a.tar', content)

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(OSError, match=message):
            await t.extract_async(remote_dir / 'a.tar', remote_dir / 'out')

    with_transport(scenario)
