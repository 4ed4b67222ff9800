"""The real server's ``tar`` (ops/compress, ops/extract), done in Python with :mod:`tarfile`.

``ops/compress`` archives ``basename(sourcePath)`` relative to its parent, as ``tar -C dirname basename``
does, and with ``dereference`` stores a file met again as a hard link (:func:`_add_following_links`);
with ``matchPattern`` it archives the regular files under ``dirname(sourcePath)`` whose
``./relative/path`` matches (``find . -type f -regex``), gzip always. ``ops/extract`` uses
:mod:`tarfile`'s ``tar`` filter (GNU tar keeps absolute symlinks). Failures are
:class:`~.errors.RemoteCommandError` with tar's stderr.
"""

from __future__ import annotations

import os
import re
import tarfile
from enum import Enum
from typing import Literal

from .access import (
    EXECUTE,
    READ,
    WRITE,
    allowed,
    check_parent_writable,
    check_traversal,
    denied,
    reason,
    require_access,
    stat_path,
)
from .errors import RemoteCommandError
from .settings import DemoSettings

TAR_FATAL = 'tar: Error is not recoverable: exiting now'
TAR_FAILED = 'tar: Exiting with failure status due to previous errors'


class Compression(str, Enum):
    """The ``compression`` of compress and extract requests (ops and transfer alike)."""

    none = 'none'
    bzip2 = 'bzip2'
    gzip = 'gzip'
    xz = 'xz'

    @property
    def tar_flag(self) -> str:
        """The letter GNU tar takes for it (``z`` for ``-czf``), as the transfer jobs run tar."""
        return {'none': '', 'gzip': 'z', 'bzip2': 'j', 'xz': 'J'}[self.value]

    @property
    def write_mode(self) -> Literal['w:', 'w:gz', 'w:bz2', 'w:xz']:
        """The :func:`tarfile.open` mode that writes an archive of it (``'w:gz'``)."""
        modes: dict[str, Literal['w:', 'w:gz', 'w:bz2', 'w:xz']]
        modes = {'none': 'w:', 'gzip': 'w:gz', 'bzip2': 'w:bz2', 'xz': 'w:xz'}
        return modes[self.value]

    @property
    def read_mode(self) -> Literal['r:*', 'r:gz', 'r:bz2', 'r:xz']:
        """The :func:`tarfile.open` mode that reads it as ``tar -x{z|j|J|}`` does (no flag: tar detects)."""
        modes: dict[str, Literal['r:*', 'r:gz', 'r:bz2', 'r:xz']]
        modes = {'none': 'r:*', 'gzip': 'r:gz', 'bzip2': 'r:bz2', 'xz': 'r:xz'}
        return modes[self.value]


_NOT_COMPRESSED = {
    Compression.gzip: 'gzip: stdin: not in gzip format\ntar: Child returned status 1',
    Compression.bzip2: 'bzip2: (stdin) is not a bzip2 file.\ntar: Child returned status 2',
    Compression.xz: 'xz: (stdin): File format not recognized\ntar: Child returned status 1',
    Compression.none: 'tar: This does not look like a tar archive',
}


def _open_archive(settings: DemoSettings, target: str, compression: Compression) -> tarfile.TarFile:
    try:
        check_traversal(settings, target)
        check_parent_writable(settings, target)
        return tarfile.open(target, compression.write_mode)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {target}: Cannot open: {reason(exc)}\n{TAR_FATAL}', 2) from exc


def _matching_files(directory: str, pattern: str, target: str) -> list[str]:
    """``find . -type f -regex pattern`` in ``directory`` (the archive being written excluded)."""
    regex = re.compile(pattern)
    found = []
    for base, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(base, name)
            relative = './' + os.path.relpath(full, directory)
            if os.path.isfile(full) and full != target and regex.fullmatch(relative):
                found.append(relative)
    return found


def compress(
    settings: DemoSettings,
    source: str,
    target: str,
    *,
    match_pattern: str | None,
    dereference: bool,
    compression: Compression,
) -> None:
    """``tar -c -C dirname(source) basename(source)`` into ``target`` (see the module docstring)."""
    parent, name = os.path.split(os.path.normpath(source))
    if match_pattern:
        compression = Compression.gzip
    with _open_archive(settings, target, compression) as archive:
        archive.dereference = dereference
        if match_pattern:
            for relative in _matching_files(parent, match_pattern, target):
                archive.add(os.path.join(parent, relative), arcname=relative)
            return
        failure = _missing_source(settings, source, name)
        if failure is None and dereference:
            _add_following_links(archive, source, name, {})
        elif failure is None:
            archive.add(source, arcname=name)
    if failure is not None:
        raise failure


def _add_following_links(
    archive: tarfile.TarFile, path: str, arcname: str, first_names: dict[tuple[int, int], str]
) -> None:
    """Add ``path`` as ``tar --dereference`` does: a file met again is a hard link to its first name.

    Following links, GNU tar remembers every file (not only those with several links, as without it), so
    the target of a link inside the tree is stored once and every other occurrence as a hard-link entry.
    """
    info = archive.gettarinfo(path, arcname)
    if info is None:  # a socket: tar skips it
        return
    if info.isreg():
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        if key in first_names:
            info.type, info.linkname, info.size = tarfile.LNKTYPE, first_names[key], 0
            archive.addfile(info)
            return
        first_names[key] = arcname
        with open(path, 'rb') as stream:
            archive.addfile(info, stream)
        return
    archive.addfile(info)
    if info.isdir():
        for name in sorted(os.listdir(path)):
            _add_following_links(archive, os.path.join(path, name), f'{arcname}/{name}', first_names)


def _missing_source(settings: DemoSettings, source: str, name: str) -> RemoteCommandError | None:
    """tar's error for a source it cannot stat (the archive is still written, empty, as tar does)."""
    try:
        check_traversal(settings, source)
        os.lstat(source)
    except OSError as exc:
        return RemoteCommandError(f'tar: {name}: Cannot stat: {reason(exc)}\n{TAR_FAILED}', 2)
    return None


def _read_archive(source: str, compression: Compression) -> tarfile.TarFile:
    """Open an archive as ``tar -x{z|j|J|}`` reads it (without a flag, tar detects the compression)."""
    try:
        return tarfile.open(source, compression.read_mode)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RemoteCommandError(f'{_NOT_COMPRESSED[compression]}\n{TAR_FATAL}', 2) from exc


def extract(settings: DemoSettings, source: str, target: str, compression: Compression) -> None:
    """``tar -x -f source -C target``, with tarfile's ``tar`` filter (absolute symlinks are kept)."""
    try:
        require_access(settings, source, READ)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {source}: Cannot open: {reason(exc)}\n{TAR_FATAL}', 2) from exc
    try:
        st = stat_path(settings, target, follow=True)
        if not allowed(st, WRITE | EXECUTE):
            raise denied(target)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {target}: Cannot open: {reason(exc)}\n{TAR_FATAL}', 2) from exc
    with _read_archive(source, compression) as archive:
        try:
            archive.extractall(target, filter='tar')
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise RemoteCommandError(f'tar: {exc}\n{TAR_FAILED}', 2) from exc
