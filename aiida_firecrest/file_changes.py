"""The transport's changes on the server: directories, permissions, links, removal, rename and copy.

Each is one backend call (rename and copy are server transfer jobs); the remote state is asked first only
where AiiDA's semantics depend on it (``remove`` refuses a directory, ``rename`` an existing target).
"""

from __future__ import annotations

import errno
import posixpath

from aiida.transports.transport import (
    TransportPath,
    has_magic,
)

from .errors import os_error
from .file_queries import FileQueries
from .paths import check_job_path


class FileChanges(FileQueries):
    """AiiDA's changes of remote paths."""

    async def mkdir_async(self, path: TransportPath, ignore_existing: bool = False) -> None:
        """Create directory ``path`` (its parent must exist).

        :param path: absolute remote path.
        :param ignore_existing: do not fail if it exists already.
        :raises OSError: if it exists (and not ``ignore_existing``) or the parent does not exist.
        """
        remote = self._remote(path)
        try:
            await self.remote.mkdir(remote)
        except FileExistsError as exc:
            if not ignore_existing:
                raise os_error(
                    errno.EEXIST, f'Error while creating directory: {exc.strerror}, already exists', remote
                ) from exc
        else:
            self._listings.created(remote)

    async def makedirs_async(self, path: TransportPath, ignore_existing: bool = False) -> None:
        """Create directory ``path`` and its missing parents.

        :param path: absolute remote path.
        :param ignore_existing: do not fail if it exists already.
        :raises OSError: if it exists and not ``ignore_existing``.
        """
        remote = self._remote(path)
        if not ignore_existing:
            try:
                await self.mkdir_async(remote)
                return
            except FileNotFoundError:
                pass  # a parent is missing: create them all
        await self.remote.mkdir(remote, parents=True)

    async def chmod_async(self, path: TransportPath, mode: int, follow_symlinks: bool = True) -> None:
        """Change the permissions of ``path``.

        :param path: absolute remote path.
        :param mode: permission bits, e.g. ``0o750``.
        :raises OSError: if the path is empty or does not exist.
        """
        await self.remote.chmod(self._remote(path), mode)

    async def chown_async(self, path: TransportPath, uid: int, gid: int) -> None:
        """Change owner and group of ``path`` (deprecated in AiiDA).

        :raises OSError: if the server refuses.
        """
        await self.remote.chown(self._remote(path), uid, gid)

    async def symlink_async(self, remotesource: TransportPath, remotedestination: TransportPath) -> None:
        """Create symbolic link ``remotedestination`` pointing to ``remotesource``.

        With a pattern in ``remotesource``, one link per match is created inside ``remotedestination``.

        :raises ValueError: if ``remotedestination`` has a pattern.
        :raises OSError: if the link cannot be created.
        """
        source, link = str(remotesource), str(remotedestination)
        if has_magic(link):
            raise ValueError('`remotedestination` cannot have patterns')
        pairs = (
            [
                (match, posixpath.join(link, posixpath.basename(match)))
                for match in await self.glob_async(source)
            ]
            if has_magic(source)
            else [(source, link)]
        )
        for target, name in pairs:
            await self.remote.symlink(self._remote(target), self._remote(name))

    async def remove_async(self, path: TransportPath) -> None:
        """Remove the file (or link) ``path``; directories are refused (the server's rm is recursive).

        :raises FileNotFoundError: if it does not exist.
        :raises IsADirectoryError: if it is a directory.
        """
        remote = self._remote(path)
        output = await self._stat(remote, dereference=False)
        if output is None:
            raise FileNotFoundError(errno.ENOENT, 'No such file or directory', remote)
        if output.is_dir:
            raise IsADirectoryError(errno.EISDIR, 'Is a directory: use rmdir or rmtree', remote)
        await self._rm(remote)

    async def rmdir_async(self, path: TransportPath) -> None:
        """Remove the empty directory ``path``.

        :raises OSError: if it is not empty, not a directory, or does not exist.
        """
        remote = self._remote(path)
        if await self._ls(remote):
            raise OSError(errno.ENOTEMPTY, 'Directory not empty', remote)
        await self._rm(remote)

    async def rmtree_async(self, path: TransportPath) -> None:
        """Remove ``path`` and everything below it (one request).

        :raises OSError: if the removal fails.
        """
        await self._rm(self._remote(path))

    async def _rm(self, remote: str) -> None:
        await self.remote.rm(remote)

    async def rename_async(self, oldpath: TransportPath, newpath: TransportPath) -> None:
        """Rename ``oldpath`` to ``newpath``, which must not exist (a server transfer job).

        :raises ValueError: if a path is empty or has a character the server's move job would alter.
        :raises OSError: if ``newpath`` exists or the move fails.
        """
        if not str(oldpath) or not str(newpath):
            raise ValueError('oldpath and newpath must be non-empty strings')
        old, new = check_job_path(self._remote(oldpath)), check_job_path(self._remote(newpath))
        if await self.path_exists_async(new):
            raise FileExistsError(errno.EEXIST, f'Cannot rename {old} to {new}: destination exists', new)
        await self.remote.mv(old, new)

    async def copy_async(
        self,
        remotesource: TransportPath,
        remotedestination: TransportPath,
        dereference: bool = False,
        recursive: bool = True,
        preserve: bool = False,
    ) -> None:
        """Copy on the server, like ``cp -r``: into ``remotedestination`` if it is an existing directory.

        Each source is copied by one server transfer job.

        :param remotesource: absolute path, may contain a pattern.
        :param remotedestination: absolute path.
        :param dereference: copy what symbolic links point to.
        :param recursive: copy directories (otherwise a directory source is an error).
        :param preserve: not supported by FirecREST (ignored).
        :raises ValueError: if a path is empty, the destination has a pattern, or a path has a character
            the server's copy job would alter (:func:`.transfer.check_job_path`).
        :raises OSError: if a source does not exist or the copy fails.
        """
        source, destination = str(remotesource), str(remotedestination)
        if not destination:
            raise ValueError('remotedestination must be a non empty string')
        if not source:
            raise ValueError('remotesource must be a non empty string')
        if has_magic(destination):
            raise ValueError('Pathname patterns are not allowed in the destination')
        destination = check_job_path(self._remote(destination))
        if has_magic(source):
            sources = await self.glob_async(source, ignore_nonexisting=False)
            if len(sources) > 1 and not await self.isdir_async(destination):
                raise OSError(
                    errno.ENOTDIR,
                    'Copying several files needs an existing destination directory',
                    destination,
                )
        else:
            sources = [self._remote(source)]
        for item in sources:
            check_job_path(item)
        if not recursive:
            for item in sources:
                if await self.isdir_async(item):
                    raise IsADirectoryError(errno.EISDIR, 'Is a directory (use copytree)', item)
        await self._gather(self.remote.cp(item, destination, dereference) for item in sources)

    async def copyfile_async(
        self, remotesource: TransportPath, remotedestination: TransportPath, dereference: bool = False
    ) -> None:
        """Copy one file on the server.

        :raises OSError: if the source does not exist or is a directory.
        """
        await self.copy_async(remotesource, remotedestination, dereference, recursive=False)

    async def copytree_async(
        self, remotesource: TransportPath, remotedestination: TransportPath, dereference: bool = False
    ) -> None:
        """Copy a directory tree on the server.

        :raises OSError: if the source does not exist.
        """
        await self.copy_async(remotesource, remotedestination, dereference, recursive=True)
