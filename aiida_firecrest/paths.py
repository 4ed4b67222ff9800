"""Paths: the remote ones the server cannot handle, refused before any request; containment; the local
paths of a tree upload in their normal form.

Nothing here sends a request or touches a file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

__all__ = (
    'FORBIDDEN_CHARACTERS',
    'JOB_ESCAPED_CHARACTERS',
    'NAME_MAX',
    'V1_FORBIDDEN_CHARACTERS',
    'check_job_path',
    'check_remote_path',
    'is_within',
    'normal_local_path',
)

#: The longest name (one path component) in bytes on the file systems of HPC centres (Linux ``NAME_MAX``).
NAME_MAX = 255

#: Characters the server cannot handle in a path given to it, with what to do instead.
FORBIDDEN_CHARACTERS = {
    "'": (
        "single quote (')",
        'the server builds shell commands quoted with it. Rename the file, or move it inside a directory '
        'that is transferred as a whole (a tree)',
    ),
    '\0': ('NUL character', 'no file name can contain it'),
}
_V1_ADVICE = (
    'FirecREST v1 refuses it in every path (its validate_input). Rename the file, or move it inside a '
    'directory that is transferred as a whole (a tree)'
)
#: Characters a FirecREST v1 server refuses in every path and name it is given (``validate_input`` of its
#: ``cscs_api_common``: ``<>|;"'&\()`` and the backtick, and the control characters).
V1_FORBIDDEN_CHARACTERS = {
    **{char: (f'character {char!r}', _V1_ADVICE) for char in '<>|;"&\\()`'},
    **{chr(code): (f'control character {chr(code)!r}', _V1_ADVICE) for code in range(1, 32)},
    **FORBIDDEN_CHARACTERS,
}
#: Characters the templates of the server's copy and move jobs write as HTML entities (jinja's autoescape:
#: ``a&b`` becomes ``a&amp;b``), so that such a job works on another path than the one asked for.
JOB_ESCAPED_CHARACTERS = '&<>"'


def check_remote_path(path: str, forbidden: Mapping[str, tuple[str, str]] = FORBIDDEN_CHARACTERS) -> str:
    """Refuse, before any request, a path the server would mishandle or no file system holds; return it.

    :param forbidden: the characters the server cannot handle, each with its description and what to do
        (:data:`FORBIDDEN_CHARACTERS` for v2, :data:`V1_FORBIDDEN_CHARACTERS` for v1).
    :raises ValueError: naming the character, if the path contains one the server cannot handle.
    :raises OSError: ``ENAMETOOLONG``, if a name in the path is longer than :data:`NAME_MAX` bytes.
    """
    for char, (description, advice) in forbidden.items():
        if char in path:
            raise ValueError(
                f'FirecREST cannot handle the {description} in the remote path {path!r}: {advice}.'
            )
    for name in path.split('/'):
        size = len(name.encode('utf-8', 'surrogateescape'))
        if size > NAME_MAX:
            raise OSError(
                errno.ENAMETOOLONG,
                f'The remote path has a name longer than {NAME_MAX} bytes ({size} bytes: {name[:40]!r}...); '
                'no file system of the server can hold it',
                path,
            )
    return path


def check_job_path(path: str) -> str:
    """Refuse, before any request, a path that the server's copy and move jobs would alter; return it.

    :raises ValueError: naming the characters, if the path contains any of :data:`JOB_ESCAPED_CHARACTERS`.
    """
    found = sorted(set(path) & set(JOB_ESCAPED_CHARACTERS))
    if found:
        raise ValueError(
            f'FirecREST cannot copy or move {path!r} on the server: its copy and move jobs write '
            f'{" ".join(found)} as HTML entities (a&b becomes a&amp;b). Download and upload it instead, '
            'or copy a directory above it whose path has none of them.'
        )
    return path


def is_within(path: str, root: str) -> bool:
    """Whether the absolute path ``path`` is ``root`` or inside it (``/`` holds every absolute path)."""
    root = root.rstrip('/') or '/'
    return path == root or path.startswith(root if root == '/' else root + '/')


def normal_local_path(path: str) -> str:
    """A local path without ``.``, ``..`` and repeated slashes (``tree/sub/..`` is ``tree``), keeping a
    trailing slash, which means "the contents of" to ``puttree`` and ``put``."""
    normal = os.path.normpath(path)
    return normal + '/' if path.endswith('/') and normal != '/' else normal
