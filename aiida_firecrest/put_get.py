"""The transport's uploads and downloads: AiiDA's ``put``/``get`` semantics on top of :mod:`.transfer`.

The "into an existing directory" rule, patterns, ``overwrite`` and ``dereference`` are decided here; how
the bytes travel (direct, staged, one archive for a tree) is :class:`.transfer.Transfers`' business.
"""

from __future__ import annotations

import errno
import glob as local_glob
import os
import posixpath
from pathlib import Path
from typing import Any

from aiida.transports.transport import (
    TransportPath,
    has_magic,
)

from .file_changes import FileChanges
from .paths import normal_local_path
from .transfer import Method

#: A tree of fewer entries than this, all small files, goes as direct uploads rather than as an archive
#: (which costs an upload, a server-side extraction and the archive's removal).
FEWEST_FILES_FOR_AN_ARCHIVE = 3


class PutGet(FileChanges):
    """AiiDA's transfers of files and trees between this machine and the server."""

    async def put_async(
        self,
        localpath: TransportPath,
        remotepath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        ignore_nonexisting: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Upload a local file or directory (or the matches of a pattern) to the server.

        :param localpath: absolute local path, may contain a pattern.
        :param remotepath: absolute remote path; an existing directory receives the source inside it.
        :param dereference: follow local symbolic links.
        :param overwrite: replace existing remote files.
        :param ignore_nonexisting: do nothing if ``localpath`` does not exist.
        :raises ValueError: if ``localpath`` is relative or the destination has a pattern.
        :raises OSError: if ``localpath`` does not exist or the upload fails.
        """
        local, remote = str(localpath), str(remotepath)
        if not os.path.isabs(local):
            raise ValueError('The localpath must be an absolute path')
        remote = self._remote(remote)
        if has_magic(local):
            if has_magic(remote):
                raise ValueError('Pathname patterns are not allowed in the destination')
            await self._put_matches(local_glob.glob(local), remote, dereference, overwrite)
        elif os.path.isdir(local):
            await self.puttree_async(local, remote, dereference, overwrite)
        elif os.path.isfile(local):
            await self._put_file_or_into_directory(local, remote, dereference, overwrite)
        elif not ignore_nonexisting:
            raise FileNotFoundError(errno.ENOENT, f'The local path {local} does not exist', local)

    async def _put_file_or_into_directory(
        self, local: str, remote: str, dereference: bool, overwrite: bool
    ) -> None:
        """Upload a file to ``remote``, or into it if it is a directory.

        A direct upload is simply tried (the server refuses a directory as target), so that the common
        case costs one request; other uploads ask first.
        """
        method = await self.transfers.upload_method(os.path.getsize(local), posixpath.basename(remote))
        if overwrite and method is Method.DIRECT:
            try:
                await self.putfile_async(local, remote, dereference, overwrite)
                return
            except IsADirectoryError:
                pass
        elif not await self.isdir_async(remote):
            await self.putfile_async(local, remote, dereference, overwrite)
            return
        await self.putfile_async(
            local, posixpath.join(remote, os.path.basename(local)), dereference, overwrite
        )

    async def _put_matches(self, matches: list[str], remote: str, dereference: bool, overwrite: bool) -> None:
        into_directory = len(matches) > 1 or await self.isdir_async(remote)
        if len(matches) > 1 and not await self.isdir_async(remote):
            if await self.isfile_async(remote):
                raise OSError(errno.ENOTDIR, 'Remote destination is not a directory', remote)
            raise FileNotFoundError(errno.ENOENT, 'Remote directory does not exist', remote)

        async def put_one(match: str) -> None:
            if os.path.isdir(match):
                await self.puttree_async(match, remote, dereference, overwrite)
            else:
                target = posixpath.join(remote, os.path.basename(match)) if into_directory else remote
                await self.putfile_async(match, target, dereference, overwrite)

        await self._gather(put_one(match) for match in matches)

    async def putfile_async(
        self,
        localpath: TransportPath,
        remotepath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Upload one local file to ``remotepath`` (one request for a small file).

        :param localpath: absolute local path.
        :param remotepath: absolute remote path of the file.
        :param dereference: always True for a single file (its content is sent).
        :param overwrite: replace an existing remote file.
        :raises ValueError: if ``localpath`` is relative.
        :raises OSError: if ``localpath`` is not a file, the remote file exists and not ``overwrite``,
            or the upload fails.
        """
        local, remote = str(localpath), str(remotepath)
        if not os.path.isabs(local):
            raise ValueError('The localpath must be an absolute path')
        remote = self._remote(remote)
        if not os.path.isfile(local):
            raise FileNotFoundError(errno.ENOENT, 'The local file does not exist (or is not a file)', local)
        if not overwrite and await self.path_exists_async(remote):
            raise FileExistsError(errno.EEXIST, 'Destination already exists: not overwriting it', remote)
        await self.transfers.upload_file(Path(local), remote)

    async def puttree_async(
        self,
        localpath: TransportPath,
        remotepath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Upload a local directory tree as one archive (a constant number of requests for any size).

        If ``remotepath`` is an existing directory the tree goes inside it (only its contents if
        ``localpath`` ends with ``/``), else it becomes ``remotepath``.

        :param localpath: absolute local directory.
        :param remotepath: absolute remote path.
        :param dereference: archive what local symbolic links point to.
        :param overwrite: replace existing remote files.
        :raises ValueError: if ``localpath`` is relative or not a directory.
        :raises OSError: if ``localpath`` does not exist, ``remotepath`` is a file, or the upload fails.
        """
        local, remote = normal_local_path(str(localpath)), str(remotepath)  # 'tree/..' is not named '..'
        if not os.path.isabs(local):
            raise ValueError('The localpath must be an absolute path')
        if not os.path.exists(local):
            raise FileNotFoundError(errno.ENOENT, 'The localpath does not exist', local)
        if not os.path.isdir(local):
            raise ValueError(f'Input localpath is not a folder: {local}')
        remote = self._remote(remote)
        if overwrite and local.endswith('/'):  # 'dir/': its contents go into remote, existing or not
            await self._put_contents(Path(local), remote, dereference)
            return
        existing = await self._stat(remote, dereference=True)
        if existing is not None and not overwrite:
            raise FileExistsError(errno.EEXIST, "Can't overwrite existing files", remote)
        if existing is not None and not existing.is_dir:
            raise OSError(errno.ENOTDIR, 'Cannot copy a directory into a file', remote)
        if existing is None:
            target_dir, name = posixpath.split(remote)
            sources = [(Path(local), name)]
        elif local.endswith('/'):  # 'dir/': its contents go into the existing directory
            target_dir = remote
            sources = [(entry, entry.name) for entry in sorted(Path(local).iterdir())]
        else:
            target_dir = remote
            sources = [(Path(local), os.path.basename(local))]
        if sources:
            await self._upload_tree(sources, target_dir, dereference)

    async def _put_contents(self, local: Path, remote: str, dereference: bool) -> None:
        """Upload what the local directory ``local`` holds into the remote directory ``remote``.

        A few small files go as direct uploads (one request each, fewer than the archive's upload,
        extraction and removal); anything else as one archive.
        """
        entries = sorted(local.iterdir())
        if not entries:
            await self.makedirs_async(remote, ignore_existing=True)
            return
        if len(entries) < FEWEST_FILES_FOR_AN_ARCHIVE and all(
            [await self._goes_direct(entry, dereference) for entry in entries]
        ):
            try:
                await self._upload_files(entries, remote)
            except FileNotFoundError:
                await self.makedirs_async(remote, ignore_existing=True)
                await self._upload_files(entries, remote)
            return
        await self._upload_tree([(entry, entry.name) for entry in entries], remote, dereference)

    async def _upload_files(self, files: list[Path], remote: str) -> None:
        """Upload local files into the remote directory ``remote``, concurrently (within the I/O slots)."""
        await self._gather(
            self.transfers.upload_file(file, posixpath.join(remote, file.name)) for file in files
        )

    async def _goes_direct(self, entry: Path, dereference: bool) -> bool:
        """Whether the local ``entry`` is a file that one direct upload moves as it is."""
        if not entry.is_file() or (entry.is_symlink() and not dereference):
            return False
        return await self.transfers.upload_method(entry.stat().st_size, entry.name) is Method.DIRECT

    async def _upload_tree(self, sources: list[tuple[Path, str]], target_dir: str, dereference: bool) -> None:
        """One archive of ``sources`` extracted into ``target_dir``, created first if it is missing."""
        try:
            await self.transfers.upload_tree(sources, target_dir, dereference)
        except FileNotFoundError:
            await self.makedirs_async(target_dir, ignore_existing=True)
            await self.transfers.upload_tree(sources, target_dir, dereference)

    # ------------------------------------------------------------------------------------- download

    async def get_async(
        self,
        remotepath: TransportPath,
        localpath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        ignore_nonexisting: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Download a remote file or directory (or the matches of a pattern).

        :param remotepath: absolute remote path, may contain a pattern.
        :param localpath: absolute local path; an existing directory receives the source inside it.
        :param dereference: follow remote symbolic links.
        :param overwrite: replace existing local files.
        :param ignore_nonexisting: do nothing if ``remotepath`` does not exist.
        :raises ValueError: if ``localpath`` is relative or has a pattern.
        :raises OSError: if ``remotepath`` does not exist or the download fails.
        """
        remote, local = str(remotepath), str(localpath)
        if not os.path.isabs(local):
            raise ValueError('The localpath must be an absolute path')
        remote = self._remote(remote)
        if has_magic(remote):
            if has_magic(local):
                raise ValueError('Pathname patterns are not allowed in the destination')
            await self._get_matches(await self.glob_async(remote), local, dereference, overwrite)
            return
        found = await self._describe(remote)
        if found is None:
            if not ignore_nonexisting:
                raise FileNotFoundError(errno.ENOENT, f'The remote path {remote} does not exist', remote)
            return
        if found.is_dir:
            contents_only = str(remotepath).endswith('/')
            await self.gettree_async(f'{remote}/' if contents_only else remote, local, dereference, overwrite)
            return
        file_target = os.path.join(local, posixpath.basename(remote)) if os.path.isdir(local) else local
        await self._getfile(remote, file_target, overwrite, found.size)

    async def _get_matches(self, matches: list[str], local: str, dereference: bool, overwrite: bool) -> None:
        if len(matches) > 1:
            if os.path.isfile(local):
                raise OSError(errno.ENOTDIR, 'Local destination is not a directory', local)
            if not os.path.exists(local):
                raise FileNotFoundError(errno.ENOENT, 'Local directory does not exist', local)
        into_directory = len(matches) > 1

        async def get_one(match: str) -> None:
            found = await self._describe(match)
            if found is not None and found.is_dir:
                await self.gettree_async(match, local, dereference, overwrite)
            else:
                target = os.path.join(local, posixpath.basename(match)) if into_directory else local
                await self._getfile(self._remote(match), target, overwrite, found.size if found else None)

        await self._gather(get_one(match) for match in matches)

    async def getfile_async(
        self,
        remotepath: TransportPath,
        localpath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Download one remote file (two requests if small: its size, then its content).

        ``localpath`` is replaced only when the download is complete (and, if staged, verified).

        :param remotepath: absolute remote path of the file.
        :param localpath: absolute local path of the file.
        :param dereference: always True for a single file (its content is fetched).
        :param overwrite: replace an existing local file.
        :raises ValueError: if ``localpath`` is relative.
        :raises OSError: if the remote file does not exist, the local one exists and not ``overwrite``,
            or the download fails.
        """
        remote, local = str(remotepath), str(localpath)
        if not os.path.isabs(local):
            raise ValueError('localpath must be an absolute path')
        await self._getfile(self._remote(remote), local, overwrite)

    async def _getfile(self, remote: str, local: str, overwrite: bool, size: int | None = None) -> None:
        """:meth:`getfile_async` of a checked remote path; ``size``: the file's size if already asked."""
        if os.path.isfile(local) and not overwrite:
            raise FileExistsError(errno.EEXIST, 'Destination already exists: not overwriting it', local)
        await self.transfers.download_file(remote, Path(local), size)

    async def gettree_async(
        self,
        remotepath: TransportPath,
        localpath: TransportPath,
        dereference: bool = True,
        overwrite: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Download a remote directory tree as one archive (a constant number of requests for any size).

        If ``localpath`` is an existing directory the tree goes inside it (only its contents if
        ``remotepath`` ends with ``/``), otherwise it becomes ``localpath``.

        :param remotepath: absolute remote directory.
        :param localpath: absolute local path.
        :param dereference: archive what remote symbolic links point to.
        :param overwrite: replace existing local files.
        :raises ValueError: if ``localpath`` is empty or relative.
        :raises OSError: if ``remotepath`` is not a directory, ``localpath`` is a file, or the download fails.
        """
        remote, local = str(remotepath), str(localpath)
        if not remote:
            raise OSError(errno.EINVAL, 'Remotepath must be a non empty string')
        if not local:
            raise ValueError('Localpaths must be a non empty string')
        if not os.path.isabs(local):
            raise ValueError('Localpaths must be an absolute path')
        remote = self._remote(remote)
        if os.path.exists(local) and not overwrite:
            raise FileExistsError(errno.EEXIST, "Can't overwrite existing files", local)
        if os.path.isfile(local):
            raise OSError(errno.ENOTDIR, 'Cannot copy a directory into a file', local)
        contents_only = str(remotepath).endswith('/')  # 'dir/': its contents go into localpath
        into = os.path.isdir(local) and not contents_only
        target = Path(local) / posixpath.basename(remote) if into else Path(local)
        await self.transfers.download_tree(remote, target, dereference)
