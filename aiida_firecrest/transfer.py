"""How bytes move between this machine and a FirecREST server.

A pure policy decides how one file travels (:func:`upload_method`, :func:`download_method`):

* ``DIRECT``: one request (``ops/upload`` / ``ops/download``), for files up to the threshold (unless
  a threshold is configured, a download is tried directly first, as its size is unknown without
  another request: the server answers 413 for a file too large, which then goes staged);
* ``STAGED``: through the object store and a server transfer job, verified with sha256;
* ``BUNDLE``: inside a tar archive extracted by the server (``ops/extract``), for directory trees,
  for empty files (the real server answers a 0-byte direct upload with 408 after its command
  timeout) and for names a multipart upload would mangle (``"``, control characters, non-ASCII).

:class:`Transfers` carries out those decisions. Every operation holds one slot of a bounded
semaphore for its whole duration; temporary files (local, and on the server in the configured
temporary directory) are removed on every path out; a failed download leaves nothing at the
destination and a failed staged upload removes what it wrote. Staged transfers, and the server's
archiving and extraction when they run as transfer jobs, report their progress to the transport's
logger (:func:`.client.report_progress`: bytes moved of the total, the job's state, at a bounded rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import hashlib
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .client import FirecrestClient, os_error, report_progress, translate_errors

__all__ = (
    'BASE64_MARGIN',
    'Method',
    'Transfers',
    'check_remote_path',
    'direct_threshold',
    'download_method',
    'multipart_safe',
    'upload_method',
)

#: Direct downloads are base64-encoded by the server, whose output buffer is ``max_ops_file_size``.
BASE64_MARGIN = 0.7
#: The threshold when the server does not publish ``max_ops_file_size`` (pyfirecrest's own default).
DEFAULT_THRESHOLD = 1024 * 1024
MIB = 1024 * 1024
#: Characters the server cannot handle in a path given to it, with what to do instead.
FORBIDDEN_CHARACTERS = {
    "'": (
        "single quote (')",
        'the server builds shell commands quoted with it. Rename the file, or move it inside a directory '
        'that is transferred as a whole (a tree)',
    ),
    '\0': ('NUL character', 'no file name can contain it'),
}

T = TypeVar('T')


class Method(enum.Enum):
    """How one file travels."""

    DIRECT = 'direct'
    STAGED = 'staged'
    BUNDLE = 'bundle'


def direct_threshold(max_ops_file_size: int | None, override_mb: float = 0.0) -> int:
    """The largest file size (bytes) that moves in one direct request.

    :param max_ops_file_size: the server's ``dataOperation.max_ops_file_size``, if published.
    :param override_mb: the computer's ``small_file_size_mb`` (0 = use the server's value).
    """
    if override_mb > 0:
        return int(override_mb * MIB)
    if max_ops_file_size:
        return int(max_ops_file_size * BASE64_MARGIN)
    return int(DEFAULT_THRESHOLD * BASE64_MARGIN)


def multipart_safe(name: str) -> bool:
    """Whether a name survives a multipart upload unchanged: printable ASCII without ``"``, ``\\``, ``%``."""
    return all(32 <= ord(char) < 127 for char in name) and not set(name) & {'"', '\\', '%'}


def upload_method(size: int, name: str, threshold: int) -> Method:
    """How to upload one file of ``size`` bytes to be called ``name`` on the server."""
    if size == 0 or not multipart_safe(name):
        return Method.BUNDLE
    return Method.DIRECT if size <= threshold else Method.STAGED


def download_method(size: int, threshold: int) -> Method:
    """How to download one file of ``size`` bytes."""
    return Method.DIRECT if size <= threshold else Method.STAGED


def check_remote_path(path: str) -> str:
    """Refuse, before any request, a path the server would mishandle; return it unchanged.

    :raises ValueError: naming the character, if the path contains one the server cannot handle.
    """
    for char, (description, advice) in FORBIDDEN_CHARACTERS.items():
        if char in path:
            raise ValueError(
                f'FirecREST cannot handle the {description} in the remote path {path!r}: {advice}.'
            )
    return path


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a local file."""
    digest = hashlib.sha256()
    with path.open('rb') as handle:
        for block in iter(lambda: handle.read(MIB), b''):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Local tar archives (run in a thread: they block)
# --------------------------------------------------------------------------------------------------


def pack(sources: list[tuple[Path, str]], archive: Path, dereference: bool) -> None:
    """Write a gzip tar archive of ``(local path, name in the archive)`` pairs (directories recursively).

    gzip's trailer (CRC-32 and length) lets the extracting side detect a damaged archive.
    """
    with tarfile.open(archive, 'w:gz', compresslevel=1, dereference=dereference) as tar:
        for path, arcname in sources:
            tar.add(path, arcname=arcname, recursive=True)


def unpack(archive: Path, destination: Path, strip: int = 0) -> list[str]:
    """Extract ``archive`` into ``destination`` safely; return the top-level names after stripping.

    Members go through tarfile's ``data`` filter (nothing outside ``destination``, no devices);
    symbolic links, which that filter refuses when absolute, are created afterwards, so that no
    member is ever written through one.

    :param strip: leading path components to remove from every member (like ``tar --strip-components``).
    """
    links: list[tuple[str, str]] = []
    top: set[str] = set()
    with tarfile.open(archive, 'r:*') as tar:
        members = []
        for member in tar.getmembers():
            parts = [part for part in member.name.split('/') if part not in ('', '.')]
            if len(parts) <= strip:
                continue
            member.name = '/'.join(parts[strip:])
            top.add(parts[strip])
            if member.issym():
                links.append((member.name, member.linkname))
            else:
                members.append(member)
        tar.extractall(destination, members=members, filter='data')
    root = destination.resolve()
    for name, target in links:
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


@contextlib.contextmanager
def local_scratch(near: Path) -> Iterator[Path]:
    """A temporary directory next to ``near`` (same file system, so results move in by rename)."""
    near.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix='.aiida-firecrest-', dir=near))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Transfers
# --------------------------------------------------------------------------------------------------


class Transfers:
    """Moves files and trees between this machine and the server of ``client``.

    :param client: the connected FirecREST client.
    :param semaphore: bounds concurrent transfers (``max_io_allowed``); each public method holds one slot.
    :param logger: where progress of large transfers is reported (the transport's AiiDA logger).
    """

    def __init__(
        self,
        client: FirecrestClient,
        semaphore: asyncio.Semaphore,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self._client = client
        self._semaphore = semaphore
        self._logger = logger
        self._threshold: int | None = None
        self._temp_ready = False

    @property
    def _api(self) -> Any:
        return self._client.api

    @property
    def _system(self) -> str:
        return self._client.system

    async def threshold(self) -> int:
        """The direct-transfer threshold in bytes (the server is asked once)."""
        if self._threshold is None:
            override = self._client.config.small_file_size_mb
            server_limit = None if override > 0 else await self._client.max_ops_file_size()
            self._threshold = direct_threshold(server_limit, override)
            # pyfirecrest decides direct vs staged by ``size < MAX_DIRECT_UPLOAD_SIZE``
            self._api.MAX_DIRECT_UPLOAD_SIZE = self._threshold + 1
        return self._threshold

    # ---------------------------------------------------------------------------------- files

    async def upload_file(self, local: Path, remote: str) -> None:
        """Upload one local file to the absolute remote path ``remote`` (overwriting it).

        :raises OSError: if the server refuses or the transfer cannot be verified.
        """
        directory, name = posixpath.split(remote)
        size = local.stat().st_size
        async with self._semaphore:
            method = upload_method(size, name, await self.threshold())
            if method is Method.BUNDLE:
                await self._upload_bundle([(local, name)], directory, dereference=True)
            elif method is Method.DIRECT:
                with translate_errors(remote):
                    await self._api.upload(self._system, local, directory, name, account=self._client.account)
            else:
                await self._upload_staged(local, directory, name, size)

    async def download_file(self, remote: str, local: Path) -> None:
        """Download the remote file ``remote`` to ``local`` (replaced only once complete and verified).

        :raises OSError: if the file cannot be downloaded or verified.
        """
        async with self._semaphore:
            await self.threshold()
            with local_scratch(local.parent) as scratch:
                partial = scratch / 'download'
                await self._download_to(remote, partial)
                os.replace(partial, local)

    async def _download_to(self, remote: str, local: Path, label: str | None = None) -> None:
        """Download ``remote`` to ``local``.

        Without a configured threshold the download is tried directly (one request) and a file too
        large for that (the server answers 413) goes through object storage; with one, the size is
        asked first and compared with it.

        :param label: what the progress reports call the download (default: ``Download of <remote>``).
        """
        if self._client.config.small_file_size_mb <= 0:
            try:
                await self._client.download(remote, local)
                return
            except OSError as exc:
                if exc.errno != errno.EFBIG:
                    raise
        await self._download_by_size(remote, local, label or f'Download of {remote}')

    async def _download_by_size(self, remote: str, local: Path, label: str) -> None:
        """pyfirecrest's download: ``stat``, then direct up to the threshold, else staged and verified."""
        started = time.monotonic()
        with translate_errors(remote), report_progress(self._logger, label):
            staged = await self._api.download(self._system, remote, str(local), account=self._client.account)
        if staged is None:
            return
        size = local.stat().st_size
        self._logger.info(
            'Downloaded %s (%.1f MB) through object storage in %.1f s',
            remote,
            size / MIB,
            time.monotonic() - started,
        )
        await self._verify(remote, local, size)

    async def _upload_staged(
        self, local: Path, directory: str, name: str, size: int, label: str | None = None
    ) -> None:
        """Upload through object storage and verify; on failure remove the regular file it may have written.

        A directory at ``remote`` is never removed (the server's ``rm`` is recursive): the upload into
        it fails and the directory stays as it was.

        :param label: what the progress reports call the upload (default: ``Upload of <local> to <remote>``).
        """
        remote = posixpath.join(directory, name)
        self._logger.info('Uploading %s (%.1f MB) through object storage to %s', local, size / MIB, remote)
        started = time.monotonic()
        try:
            with (
                translate_errors(remote),
                report_progress(self._logger, label or f'Upload of {local} to {remote}', size),
            ):
                await self._api.upload(self._system, local, directory, name, account=self._client.account)
            await self._verify(remote, local, size)
        except BaseException:
            await asyncio.shield(self._remove_file_quietly(remote))
            raise
        self._logger.info('Uploaded %s in %.1f s', remote, time.monotonic() - started)

    async def _verify(self, remote: str, local: Path, size: int) -> None:
        """Compare the remote file with the local one: sha256 when the server computes it, else the size.

        :raises OSError: on a mismatch.
        """
        if not self._client.config.checksum_check:
            return
        remote_digest = await self._remote_checksum(remote)
        if remote_digest is None:
            with translate_errors(remote):
                remote_size = int((await self._api.stat(self._system, remote, dereference=True))['size'])
            if remote_size != size:
                raise os_error(
                    errno.EIO, f'Size mismatch after transfer ({remote_size} != {size} bytes)', remote
                )
            return
        if remote_digest != await asyncio.to_thread(sha256_of, local):
            raise os_error(errno.EIO, 'sha256 mismatch after transfer', remote)

    async def _remote_checksum(self, remote: str) -> str | None:
        """The server's sha256 of ``remote``, or None if it has none (500 for paths with spaces)."""
        try:
            with translate_errors(remote):
                answer = await self._api.checksum(self._system, remote)
        except FileNotFoundError:
            raise
        except OSError as exc:
            self._logger.debug('No server checksum of %s (%s); comparing sizes', remote, exc)
            return None
        return str(answer.get('checksum', '')).lower()

    # ---------------------------------------------------------------------------------- trees

    async def upload_tree(self, sources: list[tuple[Path, str]], target_dir: str, dereference: bool) -> None:
        """Upload local files and directories as one archive extracted in the remote directory ``target_dir``.

        :param sources: ``(local path, path relative to target_dir)`` pairs.
        :raises OSError: if the server refuses.
        """
        async with self._semaphore:
            await self._upload_bundle(sources, target_dir, dereference)

    async def download_tree(self, remote: str, local: Path, dereference: bool) -> None:
        """Download the remote directory ``remote`` and merge its contents into the local directory ``local``.

        :raises NotADirectoryError: if ``remote`` is not a directory.
        :raises OSError: if the server refuses.
        """
        async with self._semaphore:
            with local_scratch(local.parent) as scratch:
                archive = scratch / 'bundle.tar.gz'
                await self.fetch_archive(remote, archive, dereference)
                extracted = scratch / 'tree'
                extracted.mkdir()
                await asyncio.to_thread(unpack, archive, extracted, 1)
                if not await asyncio.to_thread(_archive_root_is_dir, archive):
                    raise NotADirectoryError(errno.ENOTDIR, 'Not a directory', remote)
                await asyncio.to_thread(merge_tree, extracted, local)

    async def fetch_archive(
        self, remote: str, archive: Path, dereference: bool, compression: str = 'gzip'
    ) -> None:
        """Have the server archive ``remote`` (as ``basename/...``) and download the archive to ``archive``.

        The caller holds a semaphore slot.
        """
        await self.threshold()
        suffix = {'none': '.tar', 'gzip': '.tar.gz', 'bzip2': '.tar.bz2', 'xz': '.tar.xz'}[compression]
        async with self._server_temp(suffix) as server_archive:
            with report_progress(self._logger, f'Archiving {remote} on the server'):
                await self._in_temp(
                    lambda: self._api.compress(
                        self._system,
                        remote.rstrip('/') or '/',
                        server_archive,
                        dereference=dereference,
                        compression=compression,
                        account=self._client.account,
                    ),
                    remote,
                )
            await self._download_to(server_archive, archive, f'Download of the archive of {remote}')

    async def extract_remote(self, archive: str, target_dir: str, compression: str) -> None:
        """Extract the server-side ``archive`` into the server directory ``target_dir``."""
        with translate_errors(archive), report_progress(self._logger, f'Extracting {archive} on the server'):
            await self._api.extract(
                self._system, archive, target_dir, compression=compression, account=self._client.account
            )

    async def _upload_bundle(
        self, sources: list[tuple[Path, str]], target_dir: str, dereference: bool
    ) -> None:
        """Pack ``sources`` locally, upload the archive to the server's temp directory, extract it there."""
        threshold = await self.threshold()
        with local_scratch(Path(tempfile.gettempdir())) as scratch:
            archive = scratch / 'bundle.tar.gz'
            await asyncio.to_thread(pack, sources, archive, dereference)
            size = archive.stat().st_size
            async with self._server_temp('.tar.gz') as server_archive:
                temp_dir, temp_name = posixpath.split(server_archive)
                if download_method(size, threshold) is Method.DIRECT:
                    await self._in_temp(
                        lambda: self._api.upload(self._system, archive, temp_dir, temp_name), server_archive
                    )
                else:
                    await self._in_temp(
                        lambda: self._upload_staged(
                            archive, temp_dir, temp_name, size, f'Upload of the archive for {target_dir}'
                        ),
                        server_archive,
                    )
                await self.extract_remote(server_archive, target_dir, 'gzip')

    # ---------------------------------------------------------------------------------- server temp files

    @contextlib.asynccontextmanager
    async def _server_temp(self, suffix: str) -> AsyncIterator[str]:
        """A fresh path in the server's temporary directory, removed afterwards (also on failure)."""
        path = posixpath.join(
            self._client.config.temp_directory, f'aiida-firecrest-{uuid.uuid4().hex}{suffix}'
        )
        try:
            yield path
        finally:
            await asyncio.shield(self._remove_quietly(path))

    async def _in_temp(self, operation: Callable[[], Awaitable[T]], path: str) -> T:
        """Run an operation writing into the server's temp directory, creating the directory on first need."""
        try:
            with translate_errors(path):
                return await operation()
        except FileNotFoundError as exc:
            if self._temp_ready or not _is_within(exc.filename, self._client.config.temp_directory):
                raise
        with translate_errors(self._client.config.temp_directory):
            await self._api.mkdir(self._system, self._client.config.temp_directory, create_parents=True)
        self._temp_ready = True
        with translate_errors(path):
            return await operation()

    async def _remove_file_quietly(self, path: str) -> None:
        """Remove ``path`` if it is a regular file (never a directory or what a link points to).

        ``ls`` of a file answers one entry named by the full path; of a directory, its entries.
        """
        try:
            with translate_errors(path):
                entries = await self._api.list_files(self._system, path)
        except OSError:
            return
        if [(entry['name'], entry['type']) for entry in entries] == [(path, '-')]:
            await self._remove_quietly(path)

    async def _remove_quietly(self, path: str) -> None:
        """Remove a server path, ignoring a missing one; other errors are logged, not raised."""
        try:
            with translate_errors(path):
                await self._api.rm(self._system, path, account=self._client.account)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._logger.warning('Could not remove the temporary file %s on the server: %s', path, exc)


def _is_within(path: object, directory: str) -> bool:
    """Whether ``path`` (an error's filename, perhaps None) is ``directory`` or inside it."""
    if not isinstance(path, str):
        return True  # no path named: the temp directory may be what is missing
    directory = directory.rstrip('/')
    return path == directory or path.startswith(directory + '/')


def _archive_root_is_dir(archive: Path) -> bool:
    """Whether the single top-level member of a server-made archive is a directory."""
    with tarfile.open(archive, 'r:*') as tar:
        for member in tar:
            parts = [part for part in member.name.split('/') if part not in ('', '.')]
            if len(parts) == 1:
                return member.isdir()
            if len(parts) > 1:
                return True
    return False
