"""``/utilities`` of the v1 demo through pyfirecrest's v1 client: each call one direct command."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from firecrest import FirecrestException, HeaderException

if TYPE_CHECKING:
    from firecrest.v1 import Firecrest

    from aiida_firecrest.demo.launcher import DemoServer


def test_files_are_created_listed_described_and_removed(
    v1_client: Firecrest, system: str, workdir: Path, tmp_path: Path
) -> None:
    local = tmp_path / 'in.txt'
    local.write_text('hello\n' * 3)
    v1_client.mkdir(system, str(workdir / 'a' / 'b'), p=True)
    v1_client.simple_upload(system, str(local), str(workdir / 'a'))
    v1_client.symlink(system, str(workdir / 'a' / 'in.txt'), str(workdir / 'a' / 'link'))
    entries = {
        entry['name']: entry for entry in v1_client.list_files(system, str(workdir / 'a'), show_hidden=True)
    }
    assert set(entries) == {'b', 'in.txt', 'link'}
    assert entries['in.txt']['size'] == '18' and entries['b']['type'] == 'd'
    assert entries['link']['link_target'] == str(workdir / 'a' / 'in.txt')
    described = v1_client.stat(system, str(workdir / 'a' / 'link'), dereference=True)
    assert stat.S_ISREG(described['mode']) and described['size'] == 18
    assert (
        v1_client.checksum(system, str(workdir / 'a' / 'in.txt'))
        == hashlib.sha256(local.read_bytes()).hexdigest()
    )
    assert v1_client.file_type(system, str(workdir / 'a' / 'b')) == 'directory'
    v1_client.chmod(system, str(workdir / 'a' / 'in.txt'), '600')
    assert stat.S_IMODE(os.stat(workdir / 'a' / 'in.txt').st_mode) == 0o600
    v1_client.simple_delete(system, str(workdir / 'a'))
    assert not (workdir / 'a').exists()


def test_view_is_head_and_download_the_whole_file(
    v1_client: Firecrest, system: str, workdir: Path, tmp_path: Path
) -> None:
    (workdir / 'lines').write_text(''.join(f'{n}\n' for n in range(20)))
    assert v1_client.view(system, str(workdir / 'lines')) == ''.join(f'{n}\n' for n in range(10))
    v1_client.simple_download(system, str(workdir / 'lines'), tmp_path / 'back')
    assert (tmp_path / 'back').read_text() == (workdir / 'lines').read_text()


def test_copy_rename_compress_and_extract_run_directly(
    v1_client: Firecrest, system: str, workdir: Path
) -> None:
    (workdir / 'src').mkdir()
    (workdir / 'src' / 'f').write_text('f')
    v1_client.copy(system, str(workdir / 'src'), str(workdir / 'copy'))
    v1_client.mv(system, str(workdir / 'copy'), str(workdir / 'moved'))
    v1_client.compress(system, str(workdir / 'moved'), str(workdir / 'moved.tar.gz'))
    (workdir / 'out').mkdir()
    v1_client.extract(system, str(workdir / 'moved.tar.gz'), str(workdir / 'out'))
    assert (workdir / 'out' / 'moved' / 'f').read_text() == 'f'
    assert not (workdir / 'copy').exists()


@pytest.mark.parametrize(
    ('call', 'header'),
    [
        (lambda c, s, w: c.stat(s, f'{w}/missing'), 'X-Not-Found'),
        (lambda c, s, w: c.list_files(s, f'{w}/missing'), 'X-Invalid-Path'),
        (lambda c, s, w: c.mkdir(s, f'{w}'), 'X-Exists'),
        (lambda c, s, w: c.checksum(s, f'{w}'), 'X-A-Directory'),
        (lambda c, s, w: c.list_files(s, 'relative/path'), 'X-Invalid-Path'),
    ],
)
def test_failed_commands_answer_400_with_the_header_of_their_kind(
    v1_client: Firecrest,
    system: str,
    workdir: Path,
    call: Callable[[Firecrest, str, str], object],
    header: str,
) -> None:
    with pytest.raises(FirecrestException) as info:  # HeaderException for the headers pyfirecrest knows
        call(v1_client, system, str(workdir))
    response = info.value.responses[-1]
    assert response.status_code == 400 and header in response.headers
    assert set(response.json()) == {'description', 'error'}


def test_an_unreadable_directory_answers_permission_denied(
    v1_client: Firecrest, system: str, workdir: Path
) -> None:
    (workdir / 'closed').mkdir(mode=0o000)
    try:
        with pytest.raises(HeaderException) as info:
            v1_client.list_files(system, str(workdir / 'closed'))
        assert 'X-Permission-Denied' in info.value.responses[-1].headers
    finally:
        (workdir / 'closed').chmod(0o700)


def test_files_above_the_limit_are_refused_directly(
    v1_client: Firecrest, system: str, workdir: Path, tmp_path: Path
) -> None:
    big = tmp_path / 'big'
    big.write_bytes(b'x' * (5 * 1024 * 1024 + 1))
    with pytest.raises(FirecrestException) as upload:
        v1_client.simple_upload(system, str(big), str(workdir))
    assert upload.value.responses[-1].status_code == 413
    (workdir / 'big').write_bytes(big.read_bytes())
    with pytest.raises(FirecrestException) as download:
        v1_client.simple_download(system, str(workdir / 'big'), tmp_path / 'back')
    assert 'X-Size-Limit' in download.value.responses[-1].headers


def test_a_request_without_machine_name_is_400(v1_server: DemoServer) -> None:
    import httpx

    answer = httpx.get(
        f'{v1_server.url}/utilities/ls', params={'targetPath': '/'}, headers={'Authorization': 'Bearer x'}
    )
    assert answer.status_code in (400, 401)


@pytest.mark.parametrize('char', [*'<>|;"\'&\\()`', '\n', '\t'])
def test_a_path_with_a_character_the_server_refuses_answers_400_naming_the_field(
    v1_client: Firecrest, system: str, workdir: Path, char: str
) -> None:
    """``validate_input``: the real server refuses these in every path, with no X- header."""
    with pytest.raises(FirecrestException) as info:
        v1_client.list_files(system, f'{workdir}/a{char}b')
    response = info.value.responses[-1]
    assert response.status_code == 400
    assert response.json() == {
        'description': 'Error on ls operation',
        'error': "'targetPath' has invalid char",
    }
    assert not [name for name in response.headers if name.lower().startswith('x-')]


def test_an_upload_named_with_a_character_the_server_refuses_answers_400(
    v1_client: Firecrest, system: str, workdir: Path, tmp_path: Path
) -> None:
    (tmp_path / 'in').write_text('x')
    with pytest.raises(FirecrestException) as info:
        v1_client.simple_upload(system, str(tmp_path / 'in'), str(workdir), filename='a;b')
    assert info.value.responses[-1].json()['error'] == 'Filename has invalid char'
    assert list(workdir.iterdir()) == []
