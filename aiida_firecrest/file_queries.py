"""The transport's read-only operations: attributes, existence, listings, globbing, the user name.

Each is one request where AiiDA's semantics allow it (``stat`` or ``ls``), and none where a listing made a
moment ago already answers.
"""

from __future__ import annotations

import datetime
import errno
import fnmatch
import posixpath
from typing import Any

from aiida.transports.transport import (
    TransportPath,
    has_magic,
)
from aiida.transports.util import FileAttribute

from .remote import LsEntry, Stat, mode_from_ls
from .transport_base import TransportBase


def attributes_from_ls(entry: LsEntry) -> FileAttribute:
    """AiiDA's ``FileAttribute`` from an ls entry (listed with numeric ids; ``st_atime`` = ``st_mtime``)."""
    modified = datetime.datetime.fromisoformat(entry['lastModified']).replace(tzinfo=datetime.timezone.utc)
    attributes = FileAttribute()
    attributes['st_size'] = int(entry['size'])
    attributes['st_uid'] = _int_or_none(entry.get('user'))
    attributes['st_gid'] = _int_or_none(entry.get('group'))
    attributes['st_mode'] = mode_from_ls(entry)
    attributes['st_mtime'] = modified.timestamp()
    attributes['st_atime'] = modified.timestamp()
    return attributes


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def attributes_from_stat(output: Stat) -> FileAttribute:
    """AiiDA's ``FileAttribute`` from what ``stat`` says."""
    attributes = FileAttribute()
    for key in ('size', 'uid', 'gid', 'mode', 'atime', 'mtime'):
        attributes[f'st_{key}'] = getattr(output, key)
    return attributes


class FileQueries(TransportBase):
    """AiiDA's queries of remote paths."""

    async def get_attribute_async(self, path: TransportPath) -> FileAttribute:
        """Return the attributes of ``path`` (of a symbolic link itself, like ``lstat``).

        :param path: absolute remote path.
        :return: ``FileAttribute`` with st_size, st_uid, st_gid, st_mode, st_atime and st_mtime.
        :raises FileNotFoundError: if the path does not exist.
        """
        return attributes_from_stat(await self.remote.stat(self._remote(path), dereference=False))

    async def isdir_async(self, path: TransportPath) -> bool:
        """Whether ``path`` is a directory (following links); ``False`` if it does not exist or is empty.

        :param path: absolute remote path.
        """
        if not str(path):
            return False
        remote = self._remote(path)
        if remote == '/':
            return True  # the server refuses paths outside its file systems, '/' included
        output = await self._stat(remote, dereference=True)
        return output is not None and output.is_dir

    async def isfile_async(self, path: TransportPath) -> bool:
        """Whether ``path`` is a regular file (following links); ``False`` if it does not exist or is empty.

        :param path: absolute remote path.
        """
        if not str(path):
            return False
        output = await self._stat(self._remote(path), dereference=True)
        return output is not None and output.is_file

    async def path_exists_async(self, path: TransportPath) -> bool:
        """Whether ``path`` exists (a dangling symbolic link exists).

        :param path: absolute remote path.
        """
        if not str(path):
            return False
        remote = self._remote(path)
        return remote == '/' or await self._stat(remote, dereference=False) is not None

    async def listdir_async(self, path: TransportPath, pattern: str | None = None) -> list[str]:
        """The names in directory ``path`` (hidden ones included), in one request.

        :param path: absolute remote directory.
        :param pattern: keep only names matching this shell pattern (an absolute pattern is globbed).
        :raises FileNotFoundError: if the directory does not exist.
        :raises NotADirectoryError: if ``path`` is not a directory.
        """
        if pattern and pattern.startswith('/'):
            return await self.glob_async(pattern)
        names = [entry['name'] for entry in await self._ls(self._remote(path))]
        return fnmatch.filter(names, pattern) if pattern else names

    async def listdir_withattributes_async(
        self, path: TransportPath, pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """The entries of directory ``path`` with their attributes, in one request.

        Attributes describe what symbolic links point to (``ls -L``); ``st_atime`` is the modification
        time (``ls`` gives no access time). A directory holding a dangling link costs a second request,
        which describes links themselves.

        :param path: absolute remote directory.
        :param pattern: keep only names matching this shell pattern.
        :return: ``[{'name': str, 'attributes': FileAttribute, 'isdir': bool}]``
        :raises FileNotFoundError: if the directory does not exist.
        """
        remote = self._remote(path)
        try:
            entries = await self._ls(remote, dereference=True, numeric=True)
        except FileNotFoundError:
            entries = await self._ls(remote, dereference=False, numeric=True)
        if pattern:
            entries = [entry for entry in entries if fnmatch.fnmatch(entry['name'], pattern)]
        return [
            {'name': entry['name'], 'attributes': attributes_from_ls(entry), 'isdir': entry['type'] == 'd'}
            for entry in entries
        ]

    async def glob_async(self, pathname: TransportPath, ignore_nonexisting: bool = True) -> list[str]:
        """The remote paths matching a shell pattern, one ``ls`` per directory level with a wildcard.

        :param pathname: absolute pattern, e.g. ``/scratch/me/run/*.out``.
        :param ignore_nonexisting: if False, raise when nothing matches.
        :raises OSError: if nothing matches and ``ignore_nonexisting`` is False.
        """
        pattern = self._remote(pathname)
        parts = pattern.strip('/').split('/')
        first_magic = next((i for i, part in enumerate(parts) if has_magic(part)), len(parts))
        candidates = ['/' + '/'.join(parts[:first_magic])]
        if first_magic == len(parts):
            found = [candidates[0]] if await self.path_exists_async(candidates[0]) else []
        else:
            for part in parts[first_magic:]:
                listings = await self._gather(self._names_or_empty(directory) for directory in candidates)
                candidates = [
                    posixpath.join(directory, name)
                    for directory, names in zip(candidates, listings, strict=True)
                    for name in names
                    if _glob_match(name, part)
                ]
            found = candidates
        if not found and not ignore_nonexisting:
            raise OSError(
                errno.ENOENT,
                f'Either the remote path {pathname} does not exist, or a matching file/folder not found.',
            )
        return sorted(found)

    async def _names_or_empty(self, directory: str) -> list[str]:
        try:
            return [entry['name'] for entry in await self._ls(directory)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    async def whoami_async(self) -> str:
        """The user name on the server (from ``status/{system}/userinfo``, asked once per client).

        :raises OSError: if the server cannot be asked.
        """
        info = await self.remote.userinfo()
        return str(info['user']['name'])

    async def normalize_async(self, path: TransportPath = '/') -> str:
        """Normalize an absolute path (``..`` and ``.`` removed) without a request.

        :raises ValueError: for a relative path, which has no meaning over FirecREST.
        """
        text = str(path)
        if not posixpath.isabs(text):
            raise ValueError(f'FirecREST paths are absolute; cannot normalize {text!r}')
        return posixpath.normpath(text)


def _glob_match(name: str, pattern: str) -> bool:
    """Shell-style matching of one path component; hidden names match only a pattern starting with a dot."""
    if name.startswith('.') and not pattern.startswith('.'):
        return False
    return fnmatch.fnmatchcase(name, pattern)
