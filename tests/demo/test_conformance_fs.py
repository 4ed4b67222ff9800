"""Conformance of the demo's ``ops`` endpoints with the recorded real server (exchanges 09-24), and quirks.

Each recorded file is a short stateful sequence. It is replayed, in order, on a sample directory
rebuilt as the recordings imply (``samples-fixed001``, see :func:`make_samples`), with the
recorded paths mapped onto the demo's file systems.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import MIB

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
Replay = Callable[[dict[str, Any]], httpx.Response]


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


ADJUSTMENTS: dict[str, Callable[[Path], None]] = {
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
    ADJUSTMENTS.get(prefix, lambda _: None)(samples)
    (samples / 'noperm').chmod(0)


@pytest.fixture(autouse=True)
def h1_umask() -> Iterator[None]:
    """The recorded server's umask (022): new files are rw-r--r--, directories rwxr-xr-x."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _upload(client: TestClient, names: Any, request: dict[str, Any], index: int) -> httpx.Response:
    return client.post(
        names.text(request['path']),
        params=names.body(request['query']),
        files={'file': UPLOADS[index]},
    )


@pytest.mark.parametrize('prefix', [f'{n}' for n in range(9, 25)])
def test_ops_sequence_conforms(
    prefix: str,
    h1_client: TestClient,
    h1_replay: Replay,
    h1_samples: Path,
    h1_names: Any,
    h1_load: Callable[[str], dict[str, Any]],
    h1_conformance: Callable[[set[str]], Any],
) -> None:
    prefix = prefix.zfill(2)
    make_samples(h1_samples, prefix)
    conformance = h1_conformance(EXACT_KEYS)
    for index, exchange in enumerate(h1_load(prefix)['exchanges']):
        request = exchange['request']
        response = _upload(h1_client, h1_names, request, index) if 'form' in request else h1_replay(request)
        try:
            conformance.response(exchange['response'], response)
        except AssertionError as error:
            raise AssertionError(f'exchange {prefix}-{index} ({exchange.get("note")}): {error}') from error
