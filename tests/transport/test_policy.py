"""The pure parts of the transfer layer: direct-transfer limits, the direct/staged/bundle policy, ls names."""

from __future__ import annotations

from typing import Any

import pytest

from aiida_firecrest.remote import mode_from_ls, unescape_ls_name
from aiida_firecrest.transfer import (
    Method,
    check_remote_path,
    download_method,
    largest_direct_download,
    largest_direct_upload,
    multipart_safe,
    upload_method,
)


@pytest.mark.parametrize(
    ('limit', 'upload', 'download'),
    [
        (5 * 1024 * 1024, 5 * 1024 * 1024, 3_932_157),  # the recorded server: 5 MiB
        (1000, 1000, 747),  # base64 of 747 bytes is 996 characters, of 748 bytes 1000
    ],
)
def test_direct_transfers_take_what_the_server_accepts(limit: int, upload: int, download: int) -> None:
    """Uploads up to ``max_ops_file_size`` (413 above); downloads whose base64 form stays below it."""
    assert largest_direct_upload(limit) == upload
    assert largest_direct_download(limit) == download
    assert 4 * -(-download // 3) < limit <= 4 * -(-(download + 1) // 3)


def test_download_policy() -> None:
    assert download_method(100, direct_limit=100) is Method.DIRECT
    assert download_method(101, direct_limit=100) is Method.STAGED


def test_remote_paths_with_a_single_quote_are_refused() -> None:
    assert check_remote_path('/a b/"c"') == '/a b/"c"'
    with pytest.raises(ValueError, match='single quote'):
        check_remote_path("/it's")


@pytest.mark.parametrize(
    ('entry', 'mode'),
    [
        ({'type': '-', 'permissions': 'rw-r--r--'}, 0o100644),
        ({'type': 'd', 'permissions': 'rwxr-x---'}, 0o040750),
        ({'type': 'l', 'permissions': 'rwxrwxrwx'}, 0o120777),
        ({'type': 'd', 'permissions': 'rwxrwxrwt'}, 0o041777),
        ({'type': '-', 'permissions': 'rwsr-Sr--'}, 0o106744),
    ],
)
def test_mode_from_ls_permissions(entry: dict[str, Any], mode: int) -> None:
    assert mode_from_ls(entry) == mode


@pytest.mark.parametrize(
    ('listed', 'name'),
    [
        ('plain.txt', 'plain.txt'),
        ('\\303\\251t\\303\\251.txt', 'été.txt'),
        ('two\\nlines', 'two\nlines'),
        ('back\\\\slash', 'back\\slash'),
        ('tab\\there', 'tab\there'),
    ],
)
def test_names_escaped_by_ls_are_restored(listed: str, name: str) -> None:
    assert unescape_ls_name(listed) == name


@pytest.mark.parametrize(
    ('size', 'name', 'method'),
    [
        (0, 'empty', Method.BUNDLE),
        (10, 'say "hi"', Method.BUNDLE),
        (10, 'été', Method.BUNDLE),
        (10, 'two\nlines', Method.BUNDLE),
        (10, 'plain name.txt', Method.DIRECT),
        (101, 'plain', Method.STAGED),
        (100, 'plain', Method.DIRECT),
    ],
)
def test_upload_policy(size: int, name: str, method: Method) -> None:
    assert upload_method(size, name, direct_limit=100) is method


def test_multipart_safe_names_are_printable_ascii() -> None:
    assert multipart_safe('a-b_c.d e') and not multipart_safe('100%')
