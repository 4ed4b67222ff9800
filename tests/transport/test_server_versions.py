"""The transport works against every FirecREST release the demo can be (``aiida_firecrest.demo.versions``).

Each release gets a demo server of its own for this module (whatever ``--firecrest-server-version`` the
session runs with); files are set up and checked on its local disk.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from aiida_firecrest.config import AUTH_OPTIONS
from aiida_firecrest.demo.launcher import DemoServer
from aiida_firecrest.errors import FirecrestConfigError
from aiida_firecrest.transport import FirecrestTransport

from .conftest import run_with_transport

pytestmark = pytest.mark.slow

RELEASES = ['2.2.8', '2.4.2', '2.5.6', '2.6', '2.x.x']
MIB = 1024 * 1024


@pytest.fixture(scope='module', params=RELEASES)
def release_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    root = tmp_path_factory.mktemp(f'release-{request.param}')
    with DemoServer(root=root, server_version=request.param, ingress_poll_interval=0.1) as server:
        yield server


@pytest.fixture
def release_params(release_server: DemoServer, tmp_path: Path) -> dict[str, Any]:
    """Transport options for ``release_server``; files above 1 MB move staged."""
    config = release_server.config
    secret = tmp_path / 'secret'
    secret.touch(mode=0o600)
    secret.write_text(config['client_secret'])
    params = {name: config[name] for name, _ in AUTH_OPTIONS if name in config}
    return {**params, 'client_secret': str(secret), 'small_file_size_mb': 1.0}


@pytest.fixture
def release_dir(release_server: DemoServer, request: pytest.FixtureRequest) -> Path:
    """A fresh directory in the server's work directory (a local path: the demo's file system)."""
    name: str = request.node.name
    path = Path(release_server.config['workdir']) / name.replace('[', '-').rstrip(']')
    path.mkdir(parents=True)
    return path


def test_a_staged_file_round_trips(release_params: dict[str, Any], release_dir: Path, tmp_path: Path) -> None:
    data = os.urandom(MIB + MIB // 2)
    (tmp_path / 'big.bin').write_bytes(data)

    async def scenario(transport: FirecrestTransport) -> None:
        await transport.putfile_async(tmp_path / 'big.bin', release_dir / 'big.bin')
        await transport.getfile_async(release_dir / 'big.bin', tmp_path / 'back.bin')

    run_with_transport(release_params, scenario)
    assert (release_dir / 'big.bin').read_bytes() == data
    assert (tmp_path / 'back.bin').read_bytes() == data


def test_a_staged_upload_can_be_the_first_request_of_a_transport(
    release_params: dict[str, Any], release_dir: Path, tmp_path: Path
) -> None:
    """The second transport knows the server (system description, API version) from the first one."""
    data = os.urandom(MIB + MIB // 2)
    (tmp_path / 'big.bin').write_bytes(data)

    async def look(transport: FirecrestTransport) -> None:
        await transport.listdir_async(release_dir)

    async def put(transport: FirecrestTransport) -> None:
        await transport.putfile_async(tmp_path / 'big.bin', release_dir / 'big.bin')

    run_with_transport(release_params, look)
    run_with_transport(release_params, put)
    assert (release_dir / 'big.bin').read_bytes() == data


@pytest.mark.parametrize(('format', 'mode'), [('tar', 'r:'), ('tar.bz2', 'r:bz2'), ('tar.xz', 'r:xz')])
def test_compress_writes_the_requested_format(
    release_params: dict[str, Any], release_dir: Path, format: str, mode: Literal['r:', 'r:bz2', 'r:xz']
) -> None:
    (release_dir / 'tree').mkdir()
    (release_dir / 'tree' / 'a.txt').write_text('a\n')
    archive = release_dir / f'tree.{format}'

    async def scenario(transport: FirecrestTransport) -> None:
        await transport.compress_async(format, release_dir / 'tree', archive, release_dir)

    run_with_transport(release_params, scenario)
    with tarfile.open(archive, mode) as tar:
        assert sorted(tar.getnames()) == ['tree', 'tree/a.txt']


@pytest.mark.parametrize(('format', 'mode'), [('tar', 'w:'), ('tar.bz2', 'w:bz2')])
def test_extract_reads_the_archive_format(
    release_params: dict[str, Any],
    release_dir: Path,
    tmp_path: Path,
    format: str,
    mode: Literal['w:', 'w:bz2'],
) -> None:
    (tmp_path / 'a.txt').write_text('a\n')
    archive = release_dir / f'archive.{format}'
    with tarfile.open(archive, mode) as tar:
        tar.add(tmp_path / 'a.txt', arcname='a.txt')

    async def scenario(transport: FirecrestTransport) -> None:
        await transport.extract_async(archive, release_dir / 'out')

    run_with_transport(release_params, scenario)
    assert (release_dir / 'out' / 'a.txt').read_text() == 'a\n'


@pytest.fixture(scope='module')
def streamer_params(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Transport options for a demo server whose system stages files only by the streamer."""
    root = tmp_path_factory.mktemp('streamer')
    with DemoServer(root=root / 'server', transfer_method='streamer', s3_endpoint=None) as server:
        secret = root / 'secret'
        secret.touch(mode=0o600)
        secret.write_text(server.config['client_secret'])
        params = {name: server.config[name] for name, _ in AUTH_OPTIONS if name in server.config}
        yield {**params, 'client_secret': str(secret), 'small_file_size_mb': 1.0}


def test_a_staged_upload_to_a_streamer_only_system_is_refused_with_the_method_named(
    streamer_params: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / 'big.bin').write_bytes(os.urandom(MIB + MIB // 2))

    async def scenario(transport: FirecrestTransport) -> None:
        with pytest.raises(FirecrestConfigError, match="only by 'streamer'"):
            await transport.putfile_async(
                tmp_path / 'big.bin', f'{streamer_params["temp_directory"]}/big.bin'
            )

    run_with_transport(streamer_params, scenario)
