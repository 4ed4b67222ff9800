"""Paths: the remote ones the server cannot handle, refused before any request; containment; the local
paths of a tree upload, and the members of an archive, that would land outside their target.

Nothing here sends a request or touches a file.
"""

from __future__ import annotations

import errno
import os
import posixpath
import tarfile
from collections.abc import Iterable

__all__ = (
    'FORBIDDEN_CHARACTERS',
    'JOB_ESCAPED_CHARACTERS',
    'NAME_MAX',
    'check_archive_members',
    'check_job_path',
    'check_remote_path',
    'is_within',
    'member_kind',
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
#: Characters the templates of the server's copy and move jobs write as HTML entities (jinja's autoescape:
#: ``a&b`` becomes ``a&amp;b``), so that such a job works on another path than the one asked for.
JOB_ESCAPED_CHARACTERS = '&<>"'


def check_remote_path(path: str) -> str:
    """Refuse, before any request, a path the server would mishandle or no file system holds; return it.

    :raises ValueError: naming the character, if the path contains one the server cannot handle.
    :raises OSError: ``ENAMETOOLONG``, if a name in the path is longer than :data:`NAME_MAX` bytes.
    """
    for char, (description, advice) in FORBIDDEN_CHARACTERS.items():
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


def _escapes(name: str) -> bool:
    """Whether the archive member name ``name`` lands outside the destination (``..`` above it)."""
    normal = posixpath.normpath(name.lstrip('/'))
    return normal == '..' or normal.startswith('../')


def member_kind(member: tarfile.TarInfo) -> str:
    """The kind of an archive member for :func:`check_archive_members`."""
    if member.issym():
        return 'symlink'
    if member.islnk():
        return 'hardlink'
    if member.isdir():
        return 'dir'
    return 'file' if member.isreg() else 'special'


def check_archive_members(members: Iterable[tuple[str, str, str]]) -> None:
    """Refuse an archive whose members would be written outside the destination, before any is extracted.

    :param members: ``(name, kind, link target)`` of every member to extract, names relative to the
        destination; kind ``file``, ``dir``, ``symlink``, ``hardlink`` or ``special`` (a device, a FIFO).
    :raises ValueError: naming the member: a name or hard-link target with ``..`` above the destination,
        a member under a symbolic link of the archive (it would be written through the link), or a device.
    """
    members = list(members)
    symlinks = {posixpath.normpath(name.lstrip('/')) for name, kind, _ in members if kind == 'symlink'}

    def under_symlink(name: str) -> str | None:
        parts = posixpath.normpath(name.lstrip('/')).split('/')
        return next(
            (parent for parent in ('/'.join(parts[:n]) for n in range(1, len(parts))) if parent in symlinks),
            None,
        )

    for name, kind, target in members:
        problem = None
        if kind == 'special':
            problem = 'it is a device or a FIFO, which a transfer never creates'
        elif _escapes(name):
            problem = 'its name leads out of the destination'
        elif kind == 'hardlink' and _escapes(target):
            problem = f'it is a hard link to {target!r}, out of the destination'
        elif under_symlink(name) is not None:
            problem = f'it would be written through the symbolic link {under_symlink(name)!r} of the archive'
        elif kind == 'hardlink' and under_symlink(target) is not None:
            problem = f'it is a hard link through the symbolic link {under_symlink(target)!r} of the archive'
        if problem is not None:
            raise ValueError(f'Refused the archive: the archive member {name!r} is unsafe: {problem}.')
