"""Local tar archives: the bundles that carry trees (and awkward names) to and from the server.

Everything here blocks (run it in a thread). :func:`pack` writes a bundle, :func:`unpack` extracts one
safely (nothing outside the destination), :func:`merge_tree` moves an extracted tree into place, and
:func:`write_archive` writes AiiDA's ``compress`` formats. The server's ``compression`` names (``none``,
``gzip``, ``bzip2``, ``xz``) are the keys throughout.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path

#: The server's ``compression`` values of AiiDA's ``compress`` formats.
FORMAT_COMPRESSION = {'tar': 'none', 'tar.gz': 'gzip', 'tar.bz2': 'bzip2', 'tar.xz': 'xz'}
#: Archive suffixes of the server's ``compression`` values.
ARCHIVE_SUFFIXES = {'none': '.tar', 'gzip': '.tar.gz', 'bzip2': '.tar.bz2', 'xz': '.tar.xz'}
#: ``tarfile`` write modes of the same.
TARFILE_MODES = {'none': 'w', 'gzip': 'w:gz', 'bzip2': 'w:bz2', 'xz': 'w:xz'}


def pack(
    sources: list[tuple[Path, str]], archive: Path, dereference: bool, compression: str = 'gzip'
) -> None:
    """Write a tar archive of ``(local path, name in the archive)`` pairs (directories recursively).

    :param compression: the server's name of it (``none``, ``gzip``...). gzip's trailer (CRC-32 and
        length) lets the extracting side detect a damaged archive; an uncompressed one costs no CPU time
        for a large file, whose staged upload is verified anyway.
    """
    options = {'compresslevel': 1} if compression == 'gzip' else {}
    with tarfile.open(archive, TARFILE_MODES[compression], dereference=dereference, **options) as tar:  # type: ignore[call-overload]
        for path, arcname in sources:
            tar.add(path, arcname=arcname, recursive=True)


def _stripped(name: str, strip: int) -> str | None:
    """A member name without its first ``strip`` components, or None if nothing is left."""
    parts = [part for part in name.split('/') if part not in ('', '.')]
    return '/'.join(parts[strip:]) if len(parts) > strip else None


def unpack(archive: Path, destination: Path, strip: int = 0) -> list[str]:
    """Extract ``archive`` into ``destination`` safely; return the top-level names after stripping.

    Members go through tarfile's ``data`` filter (nothing outside ``destination``, no devices);
    symbolic links, which that filter refuses when absolute, are created afterwards, so that no
    member is ever written through one. Hard links (GNU tar stores a second occurrence of a file as
    one, and following links makes every file a candidate) name an earlier member: their target is
    stripped like the names, and a link whose target is stripped away is skipped, as
    ``tar --strip-components`` does.

    :param strip: leading path components to remove from every member (like ``tar --strip-components``).
    """
    links: dict[str, str] = {}
    top: set[str] = set()
    described: list[tuple[str, str, str]] = []
    with tarfile.open(archive, 'r:*') as tar:
        members = []
        for member in tar.getmembers():
            name = _stripped(member.name, strip)
            target = _stripped(member.linkname, strip) if member.islnk() else member.linkname
            if name is None or target is None:
                continue
            described.append((name, member_kind(member), target))
            member.name = name
            top.add(name.split('/')[0])
            if member.islnk() and target in links:  # a hard link to a symbolic link is that link again
                links[name] = links[target]
            elif member.issym():
                links[name] = target
            else:
                member.linkname = target
                members.append(member)
        check_archive_members(described)  # before anything is written
        try:
            tar.extractall(destination, members=members, filter='data')
        except tarfile.FilterError as exc:
            raise ValueError(f'Refused the archive: an archive member is unsafe: {exc}') from None
    root = destination.resolve()
    for name, target in links.items():
        link = destination / name
        if not link.parent.resolve().is_relative_to(root):
            raise ValueError(f'Archive member {name!r} would be created outside {destination}')
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return sorted(top)


def merge_tree(source: Path, destination: Path) -> None:
    """Move the contents of directory ``source`` into ``destination``, replacing what is there."""
    destination.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        target = destination / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            merge_tree(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)


def archive_root_is_dir(archive: Path) -> bool:
    """Whether the single top-level member of a server-made archive is a directory."""
    with tarfile.open(archive, 'r:*') as tar:
        for member in tar:
            parts = [part for part in member.name.split('/') if part not in ('', '.')]
            if len(parts) == 1:
                return member.isdir()
            if len(parts) > 1:
                return True
    return False


def compression_of(path: str) -> str:
    """The server's ``compression`` value for an archive, from its extension."""
    lowered = path.lower()
    if lowered.endswith(('.tar.gz', '.tgz')):
        return 'gzip'
    if lowered.endswith(('.tar.bz2', '.tbz2', '.tar.bz', '.tbz')):
        return 'bzip2'
    if lowered.endswith(('.tar.xz', '.txz')):
        return 'xz'
    return 'none'


def write_archive(stage: Path, archive: Path, compression: str) -> None:
    """Write the contents of ``stage`` (names relative to it, links kept) as a tar archive."""
    with tarfile.open(archive, TARFILE_MODES[compression]) as tar:  # type: ignore[call-overload]
        for entry in sorted(stage.iterdir()):
            tar.add(entry, arcname=entry.name, recursive=True)


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
