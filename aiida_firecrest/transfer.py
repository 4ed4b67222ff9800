"""How bytes move between this machine and a FirecREST server.

A pure policy decides how one file travels (:func:`upload_method`, :func:`download_method`):

* ``DIRECT``: one request (``ops/upload`` / ``ops/download``), for files the server accepts in one
  request: uploads up to its ``max_ops_file_size``, downloads whose base64 form stays below it
  (:func:`largest_direct_upload`, :func:`largest_direct_download`). Files small enough for any server
  (:data:`ASSUMED_MAX_OPS_FILE_SIZE`) go without asking the server its limit. A direct transfer the
  server refuses as too large (413), or whose command times out (408), goes staged.
* ``STAGED``: through the object storage and a server transfer job (:mod:`.staging`), verified with
  sha256 (or the size). An upload goes as a tar archive under a temporary name, extracted into place by
  ``ops/extract``: a failed upload never touches the target, and any name travels (the staged jobs'
  scripts break on spaces and shell characters). A download of such a name goes as a server-made archive.
* ``BUNDLE``: inside a tar archive extracted by the server (``ops/extract``), for directory trees,
  for empty files (the real server answers a 0-byte direct upload with 408 after its command
  timeout) and for names a multipart upload would mangle (``"``, control characters, non-ASCII).

A download asks the size first (one ``stat``, unless the caller knows it): a direct download of a file too
large for it costs the server's whole command timeout before its 408.

:class:`Transfers` carries out those decisions. Every operation holds one slot of a bounded
semaphore for its whole duration; temporary files (local, and on the server in the configured
temporary directory) are removed on every path out; a failed download leaves nothing at the
destination. Staged transfers, and the server's archiving and extraction when they run as transfer
jobs, report their progress to the transport's logger (:func:`.progress.report_progress`: bytes moved of
the total, the job's state, at a bounded rate).
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
from typing import TypeVar

from . import staging
from .capabilities import supports_compression
from .errors import FirecrestConfigError, os_error
from .paths import check_archive_members, check_job_path, check_remote_path, is_within, member_kind
from .progress import report_progress
from .remote import Remote
from .settings import MIB

__all__ = (
    'ASSUMED_MAX_OPS_FILE_SIZE',
    'Method',
    'Transfers',
    'check_job_path',
    'check_remote_path',
    'download_method',
    'largest_direct_download',
    'largest_direct_upload',
    'multipart_safe',
    'upload_method',
)

#: The ``max_ops_file_size`` assumed of a server until it is asked: pyfirecrest's own direct-transfer limit
#: for every server (FirecREST's default is 5 MiB). Files within it move directly without asking; a server
#: with a lower limit answers 413 and the file goes staged, after one wasted request.
ASSUMED_MAX_OPS_FILE_SIZE = MIB
#: Archive suffixes of the server's ``compression`` values.
ARCHIVE_SUFFIXES = {'none': '.tar', 'gzip': '.tar.gz', 'bzip2': '.tar.bz2', 'xz': '.tar.xz'}
#: ``tarfile`` write modes of the same.
TARFILE_MODES = {'none': 'w', 'gzip': 'w:gz', 'bzip2': 'w:bz2', 'xz': 'w:xz'}

T = TypeVar('T')


class Method(enum.Enum):
    """How one file travels."""

    DIRECT = 'direct'
    STAGED = 'staged'
    BUNDLE = 'bundle'


def largest_direct_upload(max_ops_file_size: int) -> int:
    """The largest file ``ops/upload`` takes: the server refuses more than ``max_ops_file_size`` (413)."""
    return max_ops_file_size


def largest_direct_download(max_ops_file_size: int) -> int:
    """The largest file ``ops/download`` gives: its base64 form (4 bytes per 3) must stay below the limit."""
    return 3 * ((max_ops_file_size - 1) // 4)


def multipart_safe(name: str) -> bool:
    """Whether a name survives a multipart upload unchanged: printable ASCII without ``"``, ``\\``, ``%``."""
    return all(32 <= ord(char) < 127 for char in name) and not set(name) & {'"', '\\', '%'}


def upload_method(size: int, name: str, direct_limit: int) -> Method:
    """How to upload one file of ``size`` bytes to be called ``name`` on the server."""
    if size == 0 or not multipart_safe(name):
        return Method.BUNDLE
    return Method.DIRECT if size <= direct_limit else Method.STAGED


def download_method(size: int, direct_limit: int) -> Method:
    """How to download one file of ``size`` bytes."""
    return Method.DIRECT if size <= direct_limit else Method.STAGED


# --------------------------------------------------------------------------------------------------
# Local tar archives (run in a thread: they block)
# --------------------------------------------------------------------------------------------------


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


@contextlib.contextmanager
def local_scratch(near: Path) -> Iterator[Path]:
    """A temporary directory next to ``near`` (same file system, so results move in by rename)."""
    near.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix='.aiida-firecrest-', dir=near))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a local file."""
    digest = hashlib.sha256()
    with path.open('rb') as handle:
        for block in iter(lambda: handle.read(MIB), b''):
            digest.update(block)
    return digest.hexdigest()


def _too_large_for_direct(exc: OSError) -> bool:
    """Whether a direct transfer failed for its size: 413, or a command that ran out of time (408)."""
    return exc.errno in (errno.EFBIG, errno.ETIMEDOUT) and not isinstance(exc, FirecrestConfigError)


# --------------------------------------------------------------------------------------------------
# Transfers
# --------------------------------------------------------------------------------------------------


class Transfers:
    """Moves files and trees between this machine and the server of ``client``.

    :param remote: the backend of the server.
    :param semaphore: bounds concurrent transfers (``max_io_allowed``); each public method holds one slot.
    :param logger: where progress of large transfers is reported (the transport's AiiDA logger).
    """

    def __init__(
        self,
        remote: Remote,
        semaphore: asyncio.Semaphore,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self._remote = remote
        self._semaphore = semaphore
        self._logger = logger
        self._limit_doubted = False
        self._temp_ready = False

    async def direct_limit(self, size: int, largest: Callable[[int], int]) -> int:
        """The largest file of a direct transfer, as it applies to a file of ``size`` bytes.

        The computer's ``small_file_size_mb`` if set; else what every server takes, if ``size`` is within
        it (no request); else what this server takes (its ``max_ops_file_size``, asked once per process).

        :param largest: :func:`largest_direct_upload` or :func:`largest_direct_download`.
        """
        override = self._remote.config.small_file_size_mb
        if override > 0:
            return int(override * MIB)
        assumed = largest(ASSUMED_MAX_OPS_FILE_SIZE)
        if size <= assumed and not self._limit_doubted:
            return assumed
        return largest(await self._remote.max_ops_file_size() or ASSUMED_MAX_OPS_FILE_SIZE)

    async def upload_method(self, size: int, name: str) -> Method:
        """How a file of ``size`` bytes to be called ``name`` on the server is uploaded."""
        return upload_method(size, name, await self.direct_limit(size, largest_direct_upload))

    def _refused_direct(self, path: str, exc: OSError) -> None:
        """Note a direct transfer refused for its size: later decisions ask the server its limit."""
        self._limit_doubted = self._limit_doubted or exc.errno == errno.EFBIG
        self._logger.info('%s is too large for a direct transfer (%s); staging it', path, exc.strerror)

    # ---------------------------------------------------------------------------------- files

    async def upload_file(self, local: Path, remote: str) -> None:
        """Upload one local file to the absolute remote path ``remote`` (overwriting it).

        A staged upload goes under a temporary name and is moved into place only once verified: a failed
        one leaves an existing ``remote`` as it was.

        :raises OSError: if the server refuses or the transfer cannot be verified.
        """
        directory, name = posixpath.split(remote)
        size = local.stat().st_size
        async with self._semaphore:
            if await self.upload_method(size, name) is Method.DIRECT:
                try:
                    await self._remote.upload(local, remote)
                    return
                except OSError as exc:
                    if not _too_large_for_direct(exc):
                        raise
                    self._refused_direct(remote, exc)
            label = f'Upload of {local} to {remote}'
            await self._upload_bundle(
                [(local, name)], directory, True, await self._single_file_compression(size), label
            )

    async def download_file(self, remote: str, local: Path, size: int | None = None) -> None:
        """Download the remote file ``remote`` to ``local`` (replaced only once complete and verified).

        :param size: the size of ``remote`` if known (else it is asked: one request).
        :raises IsADirectoryError: if ``remote`` is a directory.
        :raises OSError: if the file cannot be downloaded or verified.
        """
        async with self._semaphore:
            with local_scratch(local.parent) as scratch:
                partial = scratch / 'download'
                await self._download_to(remote, partial, size, f'Download of {remote}')
                os.replace(partial, local)

    async def remote_file_size(self, remote: str) -> int:
        """The size of the remote file ``remote`` (of what a link points to), in one ``stat``.

        :raises FileNotFoundError: if it does not exist.
        :raises IsADirectoryError: if it is a directory.
        """
        output = await self._remote.stat(remote, dereference=True)
        if output.is_dir:
            raise IsADirectoryError(errno.EISDIR, 'Is a directory', remote)
        return output.size

    async def _download_to(self, remote: str, local: Path, size: int | None, label: str) -> None:
        """Download the file ``remote`` to ``local``: directly if the server gives it at once, else staged.

        The size decides, so that no direct download of a large file waits for the server's command
        timeout; a direct download refused for its size all the same (the file grew) goes staged.

        :param size: the size of ``remote``, or a lower bound of it above the direct limit, if known.
        :param label: what the progress reports call the download.
        """
        if size is None:
            size = await self.remote_file_size(remote)
        if download_method(size, await self.direct_limit(size, largest_direct_download)) is Method.DIRECT:
            try:
                await self._remote.download(remote, local)
                return
            except OSError as exc:
                if not _too_large_for_direct(exc):
                    raise
                self._refused_direct(remote, exc)
        await self._download_staged(remote, local, size, label)

    async def _download_staged(self, remote: str, local: Path, size: int, label: str) -> None:
        """Download through object storage and verify; a name the job scripts break on goes as an archive."""
        if not staging.job_script_safe(remote):
            self._require_job_safe_temp()
            await self._download_through_archive(remote, local, size)
            return
        self._logger.info('Downloading %s (%.1f MB) through object storage', remote, size / MIB)
        started = time.monotonic()
        with report_progress(self._logger, label, size):
            await staging.download(self._remote, remote, local)
        moved = local.stat().st_size
        self._logger.info(
            'Downloaded %s (%.1f MB) in %.1f s', remote, moved / MIB, time.monotonic() - started
        )
        await self._verify(remote, local, moved)

    async def _download_through_archive(self, remote: str, local: Path, size: int) -> None:
        """Download ``remote`` inside an uncompressed archive the server makes under a temporary name."""
        with local_scratch(local.parent) as scratch:
            archive = scratch / 'file.tar'
            compression = await self._single_file_compression(size)
            await self.fetch_archive(remote, archive, dereference=True, compression=compression, size=size)
            extracted = scratch / 'file'
            extracted.mkdir()
            (name,) = await asyncio.to_thread(unpack, archive, extracted)
            os.replace(extracted / name, local)

    async def _single_file_compression(self, size: int) -> str:
        """How an archive of one file of ``size`` bytes is compressed.

        A small one (a direct transfer) is gzipped: it costs next to nothing and every server's tar reads
        it. A large one is not (it would cost CPU time for nothing), unless the server's tar knows only
        gzip (before FirecREST 2.4.0); a staged transfer reads the system's description anyway (its
        transfer method), which also tells the API version if no answer has yet.
        """
        if size <= ASSUMED_MAX_OPS_FILE_SIZE // 2:
            return 'gzip'
        if self._remote.api_version is None:
            await self._remote.system_info()
        return 'none' if supports_compression(self._remote.api_version) else 'gzip'

    async def _upload_staged(self, local: Path, remote: str, size: int, label: str) -> None:
        """Upload ``local`` through object storage to the server path ``remote`` and verify it there."""
        if not staging.job_script_safe(remote):
            self._require_job_safe_temp()
        self._logger.info('Uploading %s (%.1f MB) through object storage to %s', local, size / MIB, remote)
        started = time.monotonic()
        with report_progress(self._logger, label, size):
            await staging.upload(self._remote, local, remote, size)
        await self._verify(remote, local, size)
        self._logger.info('Uploaded %s in %.1f s', remote, time.monotonic() - started)

    def _require_job_safe_temp(self) -> None:
        """Staged transfers of odd names go through the temporary directory, under names its jobs handle.

        :raises OSError: if the configured temporary directory itself is not such a path.
        """
        temp = self._remote.config.temp_directory
        if not staging.job_script_safe(temp):
            raise os_error(
                errno.EINVAL,
                "The server's staged-transfer jobs cannot handle this path, nor the temporary directory "
                'through which it would go: configure a temp_directory of letters, digits and _./+,=@%:-',
                temp,
            )

    async def _verify(self, remote: str, local: Path, size: int) -> None:
        """Compare the remote file with the local one: sha256 when the server computes it, else the size.

        :raises OSError: on a mismatch.
        """
        if not self._remote.config.checksum_check:
            return
        remote_digest = await self._remote_checksum(remote)
        if remote_digest is None:
            remote_size = (await self._remote.stat(remote, dereference=True)).size
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
            return await self._remote.checksum(remote)
        except FileNotFoundError:
            raise
        except OSError as exc:
            self._logger.debug('No server checksum of %s (%s); comparing sizes', remote, exc)
            return None

    # ---------------------------------------------------------------------------------- trees

    async def upload_tree(self, sources: list[tuple[Path, str]], target_dir: str, dereference: bool) -> None:
        """Upload local files and directories as one archive extracted in the remote directory ``target_dir``.

        :param sources: ``(local path, path relative to target_dir)`` pairs.
        :raises OSError: if the server refuses.
        """
        async with self._semaphore:
            label = f'Upload of the archive for {target_dir}'
            await self._upload_bundle(sources, target_dir, dereference, 'gzip', label)

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
        self,
        remote: str,
        archive: Path,
        dereference: bool,
        compression: str = 'gzip',
        size: int | None = None,
    ) -> None:
        """Have the server archive ``remote`` (as ``basename/...``) and download the archive to ``archive``.

        The caller holds a semaphore slot.

        :param size: a lower bound of the archive's size, if known (spares asking it).
        """
        async with self._server_temp(ARCHIVE_SUFFIXES[compression]) as server_archive:
            with report_progress(self._logger, f'Archiving {remote} on the server'):
                await self._in_temp(
                    lambda: self._remote.compress(
                        remote.rstrip('/') or '/', server_archive, dereference, compression, about=remote
                    )
                )
            await self._download_to(server_archive, archive, size, f'Download of the archive of {remote}')

    async def extract_remote(self, archive: str, target_dir: str, compression: str) -> None:
        """Extract the server-side ``archive`` into the server directory ``target_dir``."""
        with report_progress(self._logger, f'Extracting {archive} on the server'):
            await self._remote.extract(archive, target_dir, compression)

    async def _upload_bundle(
        self,
        sources: list[tuple[Path, str]],
        target_dir: str,
        dereference: bool,
        compression: str,
        label: str,
    ) -> None:
        """Pack ``sources`` locally, upload the archive to the server's temp directory, extract it there.

        :param label: what the progress reports of a staged upload call it.
        """
        suffix = ARCHIVE_SUFFIXES[compression]
        with local_scratch(Path(tempfile.gettempdir())) as scratch:
            archive = scratch / f'bundle{suffix}'
            await asyncio.to_thread(pack, sources, archive, dereference, compression)
            size = archive.stat().st_size
            async with self._server_temp(suffix) as server_archive:
                await self._in_temp(lambda: self._upload_archive(archive, server_archive, size, label))
                await self.extract_remote(server_archive, target_dir, compression)

    async def _upload_archive(self, archive: Path, remote: str, size: int, label: str) -> None:
        """Upload a local archive to the server path ``remote``: directly if small enough, else staged."""
        if size <= await self.direct_limit(size, largest_direct_upload):
            try:
                await self._remote.upload(archive, remote)
                return
            except OSError as exc:
                if not _too_large_for_direct(exc):
                    raise
                self._refused_direct(remote, exc)
        await self._upload_staged(archive, remote, size, label)

    # ---------------------------------------------------------------------------------- server temp files

    @contextlib.asynccontextmanager
    async def _server_temp(self, suffix: str) -> AsyncIterator[str]:
        """A fresh path in the server's temporary directory, removed afterwards (also on failure)."""
        path = posixpath.join(
            self._remote.config.temp_directory, f'aiida-firecrest-{uuid.uuid4().hex}{suffix}'
        )
        try:
            yield path
        finally:
            await asyncio.shield(self._remove_quietly(path))

    async def _in_temp(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run an operation writing into the server's temp directory, creating the directory on first need."""
        try:
            return await operation()
        except FileNotFoundError as exc:
            filename = exc.filename  # none named: the temp directory may be what is missing
            if self._temp_ready or (
                isinstance(filename, str) and not is_within(filename, self._remote.config.temp_directory)
            ):
                raise
        await self._remote.mkdir(self._remote.config.temp_directory, parents=True)
        self._temp_ready = True
        return await operation()

    async def _remove_quietly(self, path: str) -> None:
        """Remove a server path, ignoring a missing one; other errors are logged, not raised."""
        try:
            await self._remote.rm(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._logger.warning('Could not remove the temporary file %s on the server: %s', path, exc)


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
