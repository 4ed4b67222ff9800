"""Conformance of the demo's ``ops`` endpoints with the recorded real server (exchanges 09-24), and quirks.

Each recorded file is a short stateful sequence. It is replayed, in order, on a sample directory
rebuilt as the recordings imply (``samples-fixed001``, see :func:`make_samples`), with the
recorded paths mapped onto the demo's file systems.
"""

from __future__ import annotations

import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.coreutils import ls_name
from aiida_firecrest.demo.settings import MIB, DemoSettings

from ..recordings import require_exchanges
from ._replay import Replay

require_exchanges()

SMALL_BIN = bytes([0, 1, 2, 127, 128, 200, 250, 254, 255, 10])
FILE_TXT = ''.join(f'line {n}: the quick brown fox\n' for n in range(1, 21)).encode()
EXACT_KEYS = {
    'message',
    'errorType',
    'user',
    'group',
    'name',
    'type',
    'linkTarget',
    'permissions',
    'size',
    'content',
    'contentType',
    'startPosition',
    'endPosition',
    'output',
    'algorithm',
    'checksum',
    'mode',
    'location',
}
UPLOADS = {
    0: ('file.txt', FILE_TXT),
    2: ('x.txt', b'abc'),
    3: ('x.txt', b'abc'),
    4: ('big.bin', b'B' * (5 * MIB + 1)),
    5: ('exact.bin', b'B' * 5 * MIB),
    6: ('file.txt', b'overwritten\n'),
    8: ('named.txt', b'abc'),
    9: ('x.txt', b'abc'),
}
"""The multipart file of each upload in ``20-fs-upload.json`` (names from its notes and errors)."""
Ops = Callable[..., httpx.Response]


def _tree(samples: Path) -> None:
    """The base sample directory, as ``12-fs-ls.json`` lists it."""
    (samples / 'dir' / 'a' / 'b' / 'c').mkdir(parents=True)
    (samples / 'dir' / 'a' / 'deep.txt').write_bytes(b'deep\n')
    (samples / 'dir' / 'inner.txt').write_bytes(b'inner\n')
    (samples / 'dir' / 'file.txt').symlink_to(samples / 'file.txt')
    (samples / '.hidden').write_bytes(b'hidden\n')
    (samples / 'file.txt').write_bytes(FILE_TXT)
    (samples / 'exact.bin').write_bytes(b'B' * 5 * MIB)
    (samples / 'link-to-dir').symlink_to(samples / 'dir')
    (samples / 'link-to-file').symlink_to(samples / 'file.txt')
    (samples / 'dangling-link').symlink_to(samples / 'missing-target')
    (samples / 'noperm').mkdir()
    (samples / 'noperm' / 'x').write_bytes(b'x\n')
    (samples / 'readonly').mkdir()


def _without(*names: str) -> Callable[[Path], None]:
    def remove(samples: Path) -> None:
        for name in names:
            path = samples / name
            if path.is_dir() and not path.is_symlink():
                for child in sorted(path.rglob('*'), reverse=True):
                    child.unlink() if child.is_symlink() or not child.is_dir() else child.rmdir()
                path.rmdir()
            else:
                path.unlink()

    return remove


def _add_deletable(samples: Path) -> None:
    (samples / 'to-delete.txt').write_bytes(b'bye\n')
    (samples / 'to-delete-dir' / 'sub').mkdir(parents=True)
    (samples / 'to-delete-dir' / 'sub' / 'f').write_bytes(b'f\n')


ADJUSTMENTS: dict[str, Callable[[Path], object]] = {
    '10': _without('dir'),
    '11': _without('link-to-dir', 'link-to-file', 'dangling-link', 'dir/file.txt'),
    '19': lambda samples: (samples / 'file.txt').chmod(0o744),
    '21': _add_deletable,
    '20': lambda samples: (samples / 'readonly').chmod(0o555),
    '23': lambda samples: (samples / 'small.bin').write_bytes(SMALL_BIN),
    '24': lambda samples: (samples / 'extracted').mkdir(),
}
"""How the sample directory differs from the base tree before a file's sequence (as recorded)."""


def make_samples(samples: Path, prefix: str) -> None:
    """Rebuild the recordings' sample directory as it was before the sequence ``prefix``."""
    samples.mkdir(parents=True)
    _tree(samples)
    adjust = ADJUSTMENTS.get(prefix)
    if adjust is not None:
        adjust(samples)
    (samples / 'noperm').chmod(0)


@pytest.fixture(autouse=True)
def recorded_umask() -> Iterator[None]:
    """The recorded server's umask (022): new files are rw-r--r--, directories rwxr-xr-x."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize('prefix', [f'{n:02}' for n in range(9, 25)])
def test_ops_sequence_conforms(prefix: str, replay: Replay, demo_settings: DemoSettings) -> None:
    make_samples(demo_settings.home / 'samples-fixed001', prefix)
    replay.run(prefix, uploads=UPLOADS if prefix == '20' else None)


# --- quirks of the real server ------------------------------------------------------------------


@pytest.fixture
def ops(demo_client: TestClient, demo_settings: DemoSettings) -> Ops:
    """Call ``/filesystem/{system}/ops/<name>`` with the given method and keyword arguments."""
    base = f'/filesystem/{demo_settings.system_name}/ops'
    return lambda method, name, **kwargs: demo_client.request(method, f'{base}/{name}', **kwargs)


def _upload_file(ops: Ops, directory: Path, name: str, content: bytes) -> httpx.Response:
    return ops('POST', 'upload', params={'path': str(directory)}, files={'file': (name, content)})


def test_missing_path_is_a_decode_error_that_closes_the_connection(ops: Ops) -> None:
    response = ops('GET', 'stat')
    assert response.status_code == 400
    assert response.json()['message'].startswith('Unable to decode request')
    assert response.headers['connection'] == 'close'


@pytest.mark.parametrize('key', ['sourcePath', 'source_path', 'path'])
def test_body_path_accepts_every_spelling(key: str, ops: Ops, demo_settings: DemoSettings) -> None:
    target = demo_settings.home / 'new'
    response = ops('POST', 'mkdir', json={key: str(target)})
    assert response.status_code == 201
    assert response.json()['output']['name'] == str(target)


def test_zero_byte_upload_times_out_but_creates_the_file(ops: Ops, demo_settings: DemoSettings) -> None:
    start = time.monotonic()
    response = _upload_file(ops, demo_settings.home, 'empty', b'')
    assert time.monotonic() - start >= demo_settings.command_timeout
    assert response.status_code == 408
    assert response.json()['message'] == 'Command execution timeout limit exceeded.'
    assert (demo_settings.home / 'empty').read_bytes() == b''


def test_checksum_of_a_path_with_a_space_fails(ops: Ops, demo_settings: DemoSettings) -> None:
    (demo_settings.home / 'a b').write_text('x')
    response = ops('GET', 'checksum', params={'path': str(demo_settings.home / 'a b')})
    assert response.status_code == 500
    assert response.json()['message'].startswith('Invalid output: ')


@pytest.mark.parametrize(
    ('method', 'name', 'argument'),
    [
        ('GET', 'ls', 'params'),
        ('GET', 'stat', 'params'),
        ('DELETE', 'rm', 'params'),
        ('POST', 'mkdir', 'json'),
        ('PUT', 'chown', 'json'),
    ],
)
def test_single_quote_in_a_path_is_a_shell_error(
    method: str, name: str, argument: str, ops: Ops, demo_settings: DemoSettings
) -> None:
    response = ops(method, name, **{argument: {'path': str(demo_settings.home / "it's")}})
    assert response.status_code == 500
    assert 'unexpected EOF while looking for matching' in response.json()['message']


def test_single_quote_in_an_upload_name_is_a_shell_error(ops: Ops, demo_settings: DemoSettings) -> None:
    response = _upload_file(ops, demo_settings.home, "it's", b'x')
    assert response.status_code == 500
    assert not (demo_settings.home / "it's").exists()


@pytest.mark.parametrize(('name', 'stored'), [('a"b', 'a%22b'), ('a\nb', 'a%0Ab')])
def test_upload_name_with_quote_or_newline_is_stored_percent_encoded(
    name: str, stored: str, ops: Ops, demo_settings: DemoSettings
) -> None:
    assert _upload_file(ops, demo_settings.home, name, b'x').status_code == 204
    assert [path.name for path in demo_settings.home.iterdir()] == [stored]


@pytest.mark.parametrize(
    ('name', 'rendered'),
    [
        ('plain name', 'plain name'),
        ('café', 'caf\\303\\251'),
        ('tab\there', 'tab\\there'),
        ('new\nline', 'new\\nline'),
        ('quote"and\\backslash', 'quote"and\\backslash'),
    ],
)
def test_ls_renders_names_like_c_quoting_then_shlex(name: str, rendered: str) -> None:
    assert ls_name(name) == rendered


def test_ls_escapes_non_ascii_names(ops: Ops, demo_settings: DemoSettings) -> None:
    (demo_settings.home / 'café').write_text('x')
    (entry,) = ops('GET', 'ls', params={'path': str(demo_settings.home)}).json()['output']
    assert entry['name'] == 'caf\\303\\251'


@pytest.mark.parametrize(('size', 'status'), [(999, 200), (1000, 413)])
def test_view_fails_once_the_output_reaches_the_limit(
    size: int, status: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    demo_settings.max_ops_file_size = 1000
    (demo_settings.home / 'f').write_bytes(b'v' * size)
    params = {'path': str(demo_settings.home / 'f'), 'size': 1000}
    assert ops('GET', 'view', params=params).status_code == status


def test_view_without_a_size_is_refused_below_a_5_mib_limit(ops: Ops, demo_settings: DemoSettings) -> None:
    """The real route's default ``size`` is 5 MiB, whatever the server's ``max_ops_file_size``."""
    demo_settings.max_ops_file_size = 1000
    (demo_settings.home / 'f').write_bytes(b'v')
    response = ops('GET', 'view', params={'path': str(demo_settings.home / 'f')})
    assert response.status_code == 400
    assert response.json()['message'] == '`size` value must be less than 1000 bytes'


LARGEST_DIRECT_DOWNLOAD = 3 * ((5 * MIB - 1) // 4)
"""The largest file whose base64 form stays below the 5 MiB buffer limit."""


@pytest.mark.parametrize(
    ('endpoint', 'size', 'query', 'status'),
    [
        ('download', LARGEST_DIRECT_DOWNLOAD, {}, 200),
        ('download', LARGEST_DIRECT_DOWNLOAD + 1, {}, 413),
        ('download', 5 * MIB, {}, 413),  # recording 22
        ('download', 12 * MIB, {}, 408),
        ('view', 5 * MIB - 1, {}, 200),
        ('view', 5 * MIB, {}, 413),  # recording 16
        ('view', 7 * MIB, {}, 413),
        ('view', 12 * MIB, {}, 408),
        ('view', 12 * MIB, {'size': 3 * MIB}, 413),  # dd reads two blocks
    ],
    ids=lambda value: str(value) if not isinstance(value, dict) else 'size' if value else '',
)
def test_output_beyond_the_ssh_channel_window_times_out_instead_of_413(
    endpoint: str, size: int, query: dict[str, int], status: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    """The real SSH client reads stdout up to the buffer limit, and stderr to its end, under one timeout.

    Output beyond the limit that fits in the channel window (2 MiB) lets the command end: 413; more blocks
    the command until the command timeout: 408 (the real server's answer to a 12 MiB download).
    """
    # long enough that encoding 5 MiB on a busy machine ends well within it (0.3 s did not, once)
    demo_settings.command_timeout = 1.0
    (demo_settings.home / 'f').write_bytes(b'x' * size)
    started = time.monotonic()
    response = ops('GET', endpoint, params={'path': str(demo_settings.home / 'f'), **query})
    elapsed = time.monotonic() - started
    assert response.status_code == status
    if status == 408:
        assert response.json()['message'] == 'Command execution timeout limit exceeded.'
        assert elapsed >= demo_settings.command_timeout
    elif status == 413:
        assert response.json()['message'] == 'Command output exceeded buffer limit.'
        assert elapsed < demo_settings.command_timeout


def test_view_slices_the_characters_of_what_dd_read(ops: Ops, demo_settings: DemoSettings) -> None:
    """``dd bs=size skip=offset/size count=2``, decoded, then ``size`` characters from ``offset % size``."""
    (demo_settings.home / 'f').write_bytes('é'.encode() * 6 + b'abcdef')
    params = {'path': str(demo_settings.home / 'f'), 'size': 4, 'offset': 9}
    # dd reads bytes 8-15 (é é a b c d: six characters); the answer is the four from the second one
    assert ops('GET', 'view', params=params).json()['output'] == 'éabc'


@pytest.mark.parametrize(('size', 'status'), [(747, 200), (748, 413)])
def test_download_fails_once_the_base64_output_reaches_the_limit(
    size: int, status: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    demo_settings.max_ops_file_size = 1000
    content = bytes(range(256)) * 2 + b'\xff' * (size - 512)
    (demo_settings.home / 'f').write_bytes(content)
    response = ops('GET', 'download', params={'path': str(demo_settings.home / 'f')})
    assert response.status_code == status
    assert status == 413 or response.content == content


@pytest.mark.parametrize(('size', 'status'), [(1000, 204), (1001, 413)])
def test_upload_above_the_limit_is_too_large(
    size: int, status: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    demo_settings.max_ops_file_size = 1000
    assert _upload_file(ops, demo_settings.home, 'f', b'u' * size).status_code == status


# --- behaviours ----------------------------------------------------------------------------------


@pytest.mark.parametrize('compression', ['none', 'gzip', 'bzip2', 'xz'])
def test_compress_and_extract_round_trip(compression: str, ops: Ops, demo_settings: DemoSettings) -> None:
    source = demo_settings.home / 'tree'
    (source / 'sub').mkdir(parents=True)
    (source / 'sub' / 'f.txt').write_bytes(b'content')
    archive, target = demo_settings.scratch / 'tree.tar', demo_settings.scratch / 'out'
    target.mkdir()
    body = {'source_path': str(source), 'target_path': str(archive), 'compression': compression}
    assert ops('POST', 'compress', json=body).status_code == 204
    body = {'sourcePath': str(archive), 'targetPath': str(target), 'compression': compression}
    assert ops('POST', 'extract', json=body).status_code == 204
    assert (target / 'tree' / 'sub' / 'f.txt').read_bytes() == b'content'


def test_compress_with_a_pattern_archives_matching_files_of_the_parent(
    ops: Ops, demo_settings: DemoSettings
) -> None:
    (demo_settings.home / 'tree' / 'sub').mkdir(parents=True)
    for name in ('tree/a.txt', 'tree/sub/b.txt', 'tree/c.dat', 'outside.txt'):
        (demo_settings.home / name).write_text(name)
    archive = demo_settings.scratch / 'txt.tar.gz'
    source = str(demo_settings.home / 'tree')
    body = {'source_path': source, 'target_path': str(archive), 'match_pattern': r'.*\.txt'}
    assert ops('POST', 'compress', json=body).status_code == 204
    with tarfile.open(archive) as opened:
        assert sorted(opened.getnames()) == ['./outside.txt', './tree/a.txt', './tree/sub/b.txt']


@pytest.mark.parametrize(
    ('mode', 'after'),
    [
        ('640', 0o640),
        ('u+x', 0o744),
        ('go-r', 0o600),
        ('a=rx', 0o555),
        ('u=rwx,g=rx,o=', 0o750),
        ('+x', 0o755),
        ('o=u', 0o646),
        ('g+X', 0o644),
    ],
)
def test_chmod_accepts_octal_and_symbolic_modes(
    mode: str, after: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    path = demo_settings.home / 'f'
    path.write_text('x')
    path.chmod(0o644)
    assert ops('PUT', 'chmod', json={'path': str(path), 'mode': mode}).status_code == 200
    assert stat.S_IMODE(path.stat().st_mode) == after


@pytest.mark.parametrize('mode', ['999', 'u+q', 'rwx'])
def test_chmod_refuses_an_invalid_mode(mode: str, ops: Ops, demo_settings: DemoSettings) -> None:
    (demo_settings.home / 'f').write_text('x')
    response = ops('PUT', 'chmod', json={'path': str(demo_settings.home / 'f'), 'mode': mode})
    assert response.status_code == 500
    assert f"invalid mode: '{mode}'" in response.json()['message']


def test_rm_refuses_a_file_system_root(ops: Ops, demo_settings: DemoSettings) -> None:
    assert ops('DELETE', 'rm', params={'path': str(demo_settings.scratch_root)}).status_code == 403
    assert demo_settings.scratch_root.is_dir()


@pytest.mark.parametrize('path', ['/etc', '/tmp', 'HOME/../../etc'])
def test_paths_outside_the_file_systems_are_refused(path: str, ops: Ops, demo_settings: DemoSettings) -> None:
    response = ops('GET', 'ls', params={'path': path.replace('HOME', str(demo_settings.home))})
    assert response.status_code == 400
    assert 'does not match any of the defined filesystem paths' in response.json()['message']


def test_rm_needs_write_permission_on_the_directory(ops: Ops, demo_settings: DemoSettings) -> None:
    locked = demo_settings.home / 'locked'
    locked.mkdir()
    (locked / 'f').write_text('x')
    locked.chmod(0o500)
    assert ops('DELETE', 'rm', params={'path': str(locked / 'f')}).status_code == 403
    assert (locked / 'f').exists()


@pytest.mark.parametrize(('with_entry', 'status'), [(False, 204), (True, 403)])
def test_rm_of_a_read_only_directory_needs_write_permission_only_for_its_entries(
    with_entry: bool, status: int, ops: Ops, demo_settings: DemoSettings
) -> None:
    read_only = demo_settings.home / 'read-only'
    read_only.mkdir()
    if with_entry:
        (read_only / 'f').write_text('x')
    read_only.chmod(0o555)
    assert ops('DELETE', 'rm', params={'path': str(read_only)}).status_code == status
    assert read_only.exists() is with_entry


def test_recursive_dereferenced_ls_stops_at_a_link_loop(ops: Ops, demo_settings: DemoSettings) -> None:
    (demo_settings.home / 'loop').mkdir()
    (demo_settings.home / 'loop' / 'back').symlink_to(demo_settings.home / 'loop')
    params = {'path': str(demo_settings.home / 'loop'), 'recursive': 'true', 'dereference': 'true'}
    response = ops('GET', 'ls', params=params)
    assert response.status_code == 500
    assert 'not listing already-listed directory' in response.json()['message']


@pytest.mark.parametrize(
    ('name', 'params', 'content'),
    [
        ('head', {'lines': 2, 'skipTrailing': 'true'}, ''.join(f'{n}\n' for n in range(1, 11))),
        ('head', {'bytes': 3}, '1\n2'),
        ('head', {'skipTrailing': 'true'}, ''.join(f'{n}\n' for n in range(1, 11))),
        ('tail', {'lines': 2}, '11\n12\n'),
        ('tail', {'lines': 11, 'skipHeading': 'true'}, '11\n12\n'),
        ('tail', {'bytes': 3, 'skipHeading': 'true'}, ''.join(f'{n}\n' for n in range(2, 13))),
        ('tail', {'skipHeading': 'true'}, ''.join(f'{n}\n' for n in range(3, 13))),
    ],
)
def test_head_and_tail_select_like_coreutils(
    name: str, params: dict[str, Any], content: str, ops: Ops, demo_settings: DemoSettings
) -> None:
    (demo_settings.home / 'f').write_text(''.join(f'{n}\n' for n in range(1, 13)))
    response = ops('GET', name, params={'path': str(demo_settings.home / 'f'), **params})
    assert response.json()['output']['content'] == content
