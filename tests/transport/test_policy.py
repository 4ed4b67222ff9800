"""The pure parts of the transfer layer: thresholds, the direct/staged/bundle policy, names from ls."""

from __future__ import annotations

import pytest

from aiida_firecrest.transfer import (
    BASE64_MARGIN,
    DEFAULT_THRESHOLD,
    Method,
    check_remote_path,
    direct_threshold,
    download_method,
    multipart_safe,
    upload_method,
)
from aiida_firecrest.transport import mode_from_ls, unescape_ls_name


@pytest.mark.parametrize(
    ('server_limit', 'override_mb', 'expected'),
    [
        (5 * 1024 * 1024, 0.0, int(5 * 1024 * 1024 * BASE64_MARGIN)),
        (5 * 1024 * 1024, 0.5, 512 * 1024),
        (None, 0.0, int(DEFAULT_THRESHOLD * BASE64_MARGIN)),
    ],
)
def test_direct_threshold_comes_from_the_server_with_a_margin_unless_overridden(
    server_limit: int | None, override_mb: float, expected: int
) -> None:
    assert direct_threshold(server_limit, override_mb) == expected


def test_download_policy() -> None:
    assert download_method(100, threshold=100) is Method.DIRECT
    assert download_method(101, threshold=100) is Method.STAGED


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
def test_mode_from_ls_permissions(entry: dict, mode: int) -> None:
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
    assert upload_method(size, name, threshold=100) is method


def test_multipart_safe_names_are_printable_ascii() -> None:
    assert multipart_safe('a-b_c.d e') and not multipart_safe('100%')
