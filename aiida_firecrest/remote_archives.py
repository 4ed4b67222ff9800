"""The transport's archives on the server: AiiDA's ``compress`` and ``extract``.

The server archives and extracts in one request where it can; what it cannot (several sources with names
relative to a root, ``strip_components``, formats other than gzip before FirecREST 2.4.0) is assembled
here from server archives and uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import posixpath
import tarfile
import tempfile
from pathlib import Path

from aiida.transports.transport import (
    TransportPath,
    has_magic,
)

from .archives import FORMAT_COMPRESSION, compression_of, unpack, write_archive
from .capabilities import supports_compression
from .errors import FirecrestConfigError
from .put_get import PutGet
from .transfer import local_scratch


class RemoteArchives(PutGet):
    """AiiDA's ``compress`` and ``extract`` of remote archives."""

    async def compress_async(
        self,
        format: str,
        remotesources: TransportPath | list[TransportPath],
        remotedestination: TransportPath,
        root_dir: TransportPath,
        overwrite: bool = True,
        dereference: bool = False,
    ) -> None:
        """Create the archive ``remotedestination`` of ``remotesources``, with names relative to ``root_dir``.

        A single source directly inside ``root_dir`` is archived by the server in one request; other
        selections (the server names members ``basename(source)/...``), and formats other than gzip on a
        server that writes only gzip (before 2.4.0), are assembled here from one server archive per
        source, and uploaded.

        :param format: ``tar``, ``tar.gz``, ``tar.bz2`` or ``tar.xz``.
        :param remotesources: absolute path(s), may contain patterns.
        :param remotedestination: absolute path of the archive file.
        :param root_dir: the directory that names in the archive are relative to.
        :param overwrite: replace an existing ``remotedestination``.
        :param dereference: archive what symbolic links point to.
        :raises ValueError: if ``format`` is not supported or a source is outside ``root_dir``.
        :raises OSError: if a source does not exist, ``remotedestination`` exists (and not ``overwrite``)
            or is a directory, ``root_dir`` is not a directory, or the archive cannot be created.
        """
        if format not in FORMAT_COMPRESSION:
            raise ValueError(f'Unsupported compression format: {format}')
        sources = await self._resolve_sources(remotesources)
        destination = self._remote(remotedestination)
        existing = await self._stat(destination, dereference=True)
        if existing is not None and existing.is_dir:
            raise IsADirectoryError(
                errno.EISDIR,
                f'The remote destination {destination} is a directory, should include a filename.',
            )
        if existing is not None and not overwrite:
            raise FileExistsError(errno.EEXIST, f'The remote destination {destination} already exists.')
        root = self._remote(root_dir)
        if not await self.isdir_async(root):
            raise NotADirectoryError(
                errno.ENOTDIR, f'The relative root {root} does not exist, or is not a directory.'
            )
        relative = [posixpath.relpath(source, root) for source in sources]
        if any(rel == '..' or rel.startswith('../') for rel in relative):
            raise ValueError(f'Every source must be inside root_dir {root}: {sources}')
        await self.makedirs_async(posixpath.dirname(destination), ignore_existing=True)
        try:
            single = len(sources) == 1 and relative[0] != '.' and '/' not in relative[0]
            if single and self._server_handles(FORMAT_COMPRESSION[format]):
                await self.remote.compress(
                    sources[0], destination, dereference, FORMAT_COMPRESSION[format], about=destination
                )
            else:
                await self._assemble_archive(format, sources, relative, destination, dereference)
        except OSError as exc:
            await self._remove_partial(destination)
            if _about_the_server(exc):
                raise
            raise OSError(
                exc.errno, f'Error while creating the tar archive. {exc.strerror}', destination
            ) from exc

    async def _resolve_sources(self, remotesources: TransportPath | list[TransportPath]) -> list[str]:
        items = remotesources if isinstance(remotesources, list) else [remotesources]
        sources: list[str] = []
        for item in items:
            if has_magic(str(item)):
                sources += await self.glob_async(item, ignore_nonexisting=False)
                continue
            source = self._remote(item)
            if not await self.path_exists_async(source):
                raise FileNotFoundError(errno.ENOENT, f'The remote path {source} does not exist')
            sources.append(source)
        return sources

    async def _assemble_archive(
        self, format: str, sources: list[str], relative: list[str], destination: str, dereference: bool
    ) -> None:
        """Build an archive of several sources here (one server archive per source) and upload it."""
        with local_scratch(Path(tempfile.gettempdir())) as scratch:
            stage = scratch / 'stage'
            stage.mkdir()
            for index, (source, rel) in enumerate(zip(sources, relative, strict=True)):
                part = scratch / f'part-{index}.tar'
                async with self._semaphore:
                    await self.transfers.fetch_archive(source, part, dereference, compression='none')
                parent = stage / posixpath.dirname(rel)
                parent.mkdir(parents=True, exist_ok=True)
                # the server archives ``basename(source)/...``: for root_dir itself, drop that component
                await asyncio.to_thread(unpack, part, parent, 1 if rel == '.' else 0)
            archive = scratch / f'archive.{format}'
            await asyncio.to_thread(write_archive, stage, archive, FORMAT_COMPRESSION[format])
            await self.transfers.upload_file(archive, destination)

    async def _remove_partial(self, path: str) -> None:
        with contextlib.suppress(OSError):
            await self._rm(path)

    async def extract_async(
        self,
        remotesource: TransportPath,
        remotedestination: TransportPath,
        overwrite: bool = True,
        strip_components: int = 0,
    ) -> None:
        """Extract the remote archive ``remotesource`` into the directory ``remotedestination`` (created).

        Without ``strip_components`` the server extracts (one request); with it, or for a format other
        than gzip on a server that reads only gzip (before 2.4.0), the archive is re-packed here (without
        the leading components) and extracted by the server.

        :param remotesource: absolute path of the archive (compression from its extension).
        :param remotedestination: absolute path of the destination directory.
        :param overwrite: must be True (AiiDA has no use for False).
        :param strip_components: leading path components to remove from the names.
        :raises OSError: if the archive does not exist or cannot be extracted.
        """
        if not overwrite:
            raise NotImplementedError('The overwrite=False is not implemented yet')
        source, destination = self._remote(remotesource), self._remote(remotedestination)
        await self.makedirs_async(destination, ignore_existing=True)
        try:
            compression = compression_of(source)
            if strip_components or not self._server_handles(compression):
                await self._extract_stripped(source, destination, strip_components)
            else:
                await self.transfers.extract_remote(source, destination, compression)
        except FileNotFoundError as exc:
            raise FileNotFoundError(errno.ENOENT, f'The remote path {source} does not exist') from exc
        except OSError as exc:
            if _about_the_server(exc):
                raise
            raise OSError(
                exc.errno, f'Error while extracting the tar archive. {exc.strerror}', source
            ) from exc

    def _server_handles(self, compression: str) -> bool:
        """Whether the server's compress and extract handle ``compression`` (all of them since 2.4.0)."""
        return compression == 'gzip' or supports_compression(self.remote.api_version)

    async def _extract_stripped(self, source: str, destination: str, strip: int) -> None:
        with local_scratch(Path(tempfile.gettempdir())) as scratch:
            archive = scratch / 'archive'
            await self.transfers.download_file(source, archive)
            tree = scratch / 'tree'
            tree.mkdir()
            try:
                names = await asyncio.to_thread(unpack, archive, tree, strip)
            except tarfile.TarError as exc:
                raise OSError(errno.EINVAL, f'Not a readable tar archive ({exc})', source) from exc
            if names:
                await self.transfers.upload_tree([(tree / name, name) for name in names], destination, False)


def _about_the_server(exc: OSError) -> bool:
    """Whether ``exc`` is about the server or the connection (a one-line message to pass on as it is)."""
    return isinstance(exc, (FirecrestConfigError, ConnectionError))
