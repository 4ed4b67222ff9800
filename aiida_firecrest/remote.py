"""The backend the AiiDA layers talk to: every file, transfer and job operation on the server, typed.

:class:`Remote` is the interface (a ``Protocol``) the transport, the transfer layer, the staging waits and
the schedulers call, and nothing else; :class:`FirecrestRemote` implements it on FirecREST v2
(pyfirecrest's ``AsyncFirecrest`` through :class:`.client.FirecrestClient`). Each method sends its
requests and translates their errors once, into the ``OSError`` subclasses AiiDA's transports raise
(:func:`.errors.translate_errors`: ``FileNotFoundError``, ``PermissionError``, ``FileExistsError``... with
the errno and the path the operation was about); answers come back as records (:class:`Stat`,
:class:`LsEntry`, :class:`StagedTransfer`) rather than the server's JSON, except job records, which the
schedulers read and store as the server gives them (:data:`JobRecord`).

A FirecREST v1 backend would implement :class:`Remote` on v1's endpoints; the layers above would not
change. The model is aiida-core's ``core.ssh_async``, whose transport talks only to its ``async_backend``.
"""

from __future__ import annotations

import dataclasses
import posixpath
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypedDict

from .client import FirecrestClient, JobState
from .errors import translate_errors, translated
from .paths import FORBIDDEN_CHARACTERS
from .settings import TransportConfig

__all__ = (
    'FirecrestRemote',
    'JobRecord',
    'JobState',
    'LsEntry',
    'Remote',
    'StagedTransfer',
    'Stat',
    'mode_from_ls',
    'unescape_ls_name',
)

#: A job record as the server gives it (``GET /compute/{system}/jobs``): the schedulers read it and keep it
#: as the job's detailed info.
JobRecord = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Stat:
    """What ``stat`` says of a path (of a link itself, or of its target with ``dereference``).

    Owner and times are None in an answer without them.
    """

    mode: int
    size: int
    uid: int | None = None
    gid: int | None = None
    atime: int | None = None
    mtime: int | None = None

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)


class LsEntry(TypedDict, total=False):
    """One entry of a directory listing (``ls -l``), its name unescaped; ``type`` is ``-``, ``d``, ``l``...

    ``user`` and ``group`` are numeric ids when listed with ``numeric``; ``lastModified`` is ISO 8601 (UTC).
    """

    name: str
    type: str
    permissions: str
    size: int | str
    user: str
    group: str
    lastModified: str
    linkTarget: str | None


@dataclasses.dataclass(frozen=True)
class StagedTransfer:
    """A staged transfer the server has accepted: its transfer job, and where the object is.

    :ivar path: the server path it moves (named by its errors).
    :ivar info: the server's answer (presigned part URLs of an upload, for pyfirecrest's multipart upload).
    :ivar job: the transfer job (opaque: given back to :meth:`Remote.transfer_job_state` and the like).
    :ivar download_url: the presigned URL of a download's object ('' for an upload).
    """

    path: str
    info: dict[str, Any]
    job: dict[str, Any]
    download_url: str = ''


class Remote(Protocol):
    """The operations the plugins need of a FirecREST server, each raising ``OSError`` subclasses.

    Paths are absolute server paths; a method's errors name the path it is about.
    """

    config: TransportConfig

    @property
    def forbidden_characters(self) -> Mapping[str, tuple[str, str]]:
        """The characters the server refuses or mishandles in a path (:func:`.paths.check_remote_path`)."""
        ...

    @property
    def system(self) -> str: ...

    @property
    def changes(self) -> int:
        """How many requests that may change the server have been sent so far."""
        ...

    @property
    def api_version(self) -> str | None: ...

    # --- the server and the user
    async def system_info(self) -> dict[str, Any]: ...
    def known_system_info(self) -> dict[str, Any] | None: ...
    async def max_ops_file_size(self) -> int | None: ...
    async def userinfo(self) -> dict[str, Any]: ...

    # --- files
    async def stat(self, path: str, dereference: bool) -> Stat: ...
    async def ls(self, path: str, dereference: bool = False, numeric: bool = False) -> list[LsEntry]: ...
    async def mkdir(self, path: str, parents: bool = False) -> None: ...
    async def chmod(self, path: str, mode: int) -> None: ...
    async def chown(self, path: str, uid: int, gid: int) -> None: ...
    async def symlink(self, target: str, link: str) -> None: ...
    async def rm(self, path: str) -> None: ...
    async def mv(self, source: str, destination: str) -> None: ...
    async def cp(self, source: str, destination: str, dereference: bool) -> None: ...
    async def compress(
        self, source: str, archive: str, dereference: bool, compression: str, about: str | None = None
    ) -> None: ...
    async def extract(self, archive: str, directory: str, compression: str) -> None: ...
    async def view(self, path: str) -> str: ...
    async def checksum(self, path: str) -> str: ...

    # --- direct transfers
    async def upload(self, local: Path, remote: str) -> None: ...
    async def download(self, remote: str, local: Path) -> None: ...

    # --- staged transfers
    async def start_staged_upload(self, remote: str, size: int, method: str) -> StagedTransfer: ...
    async def start_staged_download(self, remote: str, method: str) -> StagedTransfer: ...
    async def upload_to_stage(self, transfer: StagedTransfer, local: Path) -> None: ...
    async def fetch_object(self, transfer: StagedTransfer, local: Path) -> bool: ...
    async def transfer_job_state(self, transfer: StagedTransfer) -> JobState: ...
    async def transfer_job_failure(self, transfer: StagedTransfer) -> OSError: ...
    async def cancel_transfer_job(self, transfer: StagedTransfer) -> None: ...

    # --- jobs
    async def submit(
        self, working_directory: str, script_path: str | None = None, script: str | None = None
    ) -> str: ...
    async def jobs(self) -> list[JobRecord]: ...
    async def job(self, job_id: str) -> list[JobRecord]: ...
    async def cancel(self, job_id: str) -> None: ...


class FirecrestRemote:
    """:class:`Remote` on FirecREST v2, through a connected :class:`.client.FirecrestClient`.

    It holds no state of its own: the client has the HTTP sessions, the token and the cached server facts.
    """

    forbidden_characters = FORBIDDEN_CHARACTERS

    def __init__(self, client: FirecrestClient) -> None:
        self.client = client
        self.config = client.config

    @property
    def system(self) -> str:
        return self.client.system

    @property
    def changes(self) -> int:
        return int(self.client.api.changes)

    @property
    def api_version(self) -> str | None:
        return self.client.api_version

    @property
    def _account(self) -> str | None:
        return self.client.account

    # ------------------------------------------------------------------------ the server and the user

    async def system_info(self) -> dict[str, Any]:
        return await self.client.system_info()

    def known_system_info(self) -> dict[str, Any] | None:
        return self.client.known_system_info()

    async def max_ops_file_size(self) -> int | None:
        return await self.client.max_ops_file_size()

    async def userinfo(self) -> dict[str, Any]:
        return await self.client.userinfo()

    # ------------------------------------------------------------------------ files

    async def stat(self, path: str, dereference: bool) -> Stat:
        with translate_errors(path):
            output = await self.client.api.stat(self.system, path, dereference=dereference)
        optional = {key: int(output[key]) for key in ('uid', 'gid', 'atime', 'mtime') if key in output}
        return Stat(int(output['mode']), int(output['size']), **optional)

    async def ls(self, path: str, dereference: bool = False, numeric: bool = False) -> list[LsEntry]:
        """One ``ops/ls`` of a directory (hidden entries included; names unescaped); of a file, its entry."""
        with translate_errors(path):
            entries = await self.client.api.list_files(
                self.system,
                path.rstrip('/') + '/',
                show_hidden=True,
                numeric_uid=numeric,
                dereference=dereference,
            )
        for entry in entries:
            entry['name'] = unescape_ls_name(entry['name'])
        return list(entries)

    async def mkdir(self, path: str, parents: bool = False) -> None:
        with translate_errors(path):
            await self.client.api.mkdir(self.system, path, create_parents=parents)

    async def chmod(self, path: str, mode: int) -> None:
        with translate_errors(path):
            await self.client.api.chmod(self.system, path, f'{mode:o}')

    async def chown(self, path: str, uid: int, gid: int) -> None:
        with translate_errors(path):
            await self.client.api.chown(self.system, path, str(uid), str(gid))

    async def symlink(self, target: str, link: str) -> None:
        with translate_errors(link):
            await self.client.api.symlink(self.system, target, link)

    async def rm(self, path: str) -> None:
        with translate_errors(path):
            await self.client.api.rm(self.system, path, account=self._account)

    async def mv(self, source: str, destination: str) -> None:
        with translate_errors(source):
            await self.client.api.mv(self.system, source, destination, account=self._account)

    async def cp(self, source: str, destination: str, dereference: bool) -> None:
        with translate_errors(source):
            await self.client.api.cp(
                self.system, source, destination, dereference=dereference, account=self._account
            )

    async def compress(
        self, source: str, archive: str, dereference: bool, compression: str, about: str | None = None
    ) -> None:
        """Archive ``source`` (as ``basename(source)/...``) into the server file ``archive``.

        :param about: the path its errors name (by default ``source``).
        """
        with translate_errors(source if about is None else about):
            await self.client.api.compress(
                self.system,
                source,
                archive,
                dereference=dereference,
                compression=compression,
                account=self._account,
            )

    async def extract(self, archive: str, directory: str, compression: str) -> None:
        with translate_errors(archive):
            await self.client.api.extract(
                self.system, archive, directory, compression=compression, account=self._account
            )

    async def view(self, path: str) -> str:
        with translate_errors(path):
            return str(await self.client.api.view(self.system, path))

    async def checksum(self, path: str) -> str:
        """The server's sha256 of the file ``path`` (lower-case hex; '' if the answer has none)."""
        with translate_errors(path):
            answer = await self.client.api.checksum(self.system, path)
        return str(answer.get('checksum', '')).lower()

    # ------------------------------------------------------------------------ direct transfers

    async def upload(self, local: Path, remote: str) -> None:
        """One ``ops/upload`` of the local file to ``remote`` (the caller decided it goes direct)."""
        directory, name = posixpath.split(remote)
        with translate_errors(remote):
            await self.client.api.upload(self.system, local, directory, name)

    async def download(self, remote: str, local: Path) -> None:
        await self.client.download(remote, local)

    # ------------------------------------------------------------------------ staged transfers

    async def start_staged_upload(self, remote: str, size: int, method: str) -> StagedTransfer:
        with translate_errors(remote):
            info = await self.client.start_staged_upload(remote, size, method)
            return StagedTransfer(remote, info, info['transferJob'])

    async def start_staged_download(self, remote: str, method: str) -> StagedTransfer:
        with translate_errors(remote):
            info = await self.client.start_staged_download(remote, method)
            job = info['transferJob']
            return StagedTransfer(remote, info, job, _download_url(info))

    async def upload_to_stage(self, transfer: StagedTransfer, local: Path) -> None:
        with translate_errors(transfer.path):
            await self.client.upload_to_stage(transfer.info, local)

    async def fetch_object(self, transfer: StagedTransfer, local: Path) -> bool:
        with translate_errors(transfer.path):
            return await self.client.fetch_object(transfer.download_url, local)

    async def transfer_job_state(self, transfer: StagedTransfer) -> JobState:
        with translate_errors(transfer.path):
            return await self.client.transfer_job_state(transfer.job)

    async def transfer_job_failure(self, transfer: StagedTransfer) -> OSError:
        with translate_errors(transfer.path):
            failure = await self.client.transfer_job_failure(transfer.job)
        return translated(failure, transfer.path)

    async def cancel_transfer_job(self, transfer: StagedTransfer) -> None:
        await self.client.cancel_transfer_job(transfer.job)

    # ------------------------------------------------------------------------ jobs

    async def submit(
        self, working_directory: str, script_path: str | None = None, script: str | None = None
    ) -> str:
        """Submit a job script (by its server path, or its content); the job id."""
        given = {'script_remote_path': script_path} if script is None else {'script_str': script}
        with translate_errors(script_path):
            answer = await self.client.api.submit(
                self.system, working_dir=working_directory, account=self._account, **given
            )
        return str(answer['jobId'])

    async def jobs(self) -> list[JobRecord]:
        """The records of the user's recent jobs (the server's time window), in one request."""
        with translate_errors():
            return [dict(record) for record in await self.client.api.job_info(self.system)]

    async def job(self, job_id: str) -> list[JobRecord]:
        """The record(s) of one job (several for a requeued one)."""
        with translate_errors():
            return [dict(record) for record in await self.client.api.job_info(self.system, jobid=job_id)]

    async def cancel(self, job_id: str) -> None:
        with translate_errors():
            await self.client.api.cancel_job(self.system, job_id)


def _download_url(info: dict[str, Any]) -> str:
    """The presigned URL of a staged download's object (the spellings pyfirecrest accepts)."""
    directives = info.get('transferDirectives') or {}
    url = info.get('downloadUrl') or directives.get('downloadUrl') or directives.get('download_url')
    if not url:
        raise OSError('The FirecREST server answered the staged download without a download URL')
    return str(url)


# --------------------------------------------------------------------------------------------------
# ``ls`` output
# --------------------------------------------------------------------------------------------------

_FILE_TYPES = {'d': stat.S_IFDIR, 'l': stat.S_IFLNK, '-': stat.S_IFREG, 'p': stat.S_IFIFO, 's': stat.S_IFSOCK}
_C_ESCAPES = {'a': 7, 'b': 8, 't': 9, 'n': 10, 'v': 11, 'f': 12, 'r': 13, '\\': 92, '"': 34}


def unescape_ls_name(name: str) -> str:
    """Undo the ``ls --quoting-style=c`` escapes the server leaves in names (``\\303\\251`` -> ``é``)."""
    if '\\' not in name:
        return name
    out = bytearray()
    index = 0
    while index < len(name):
        char = name[index]
        if char == '\\' and index + 1 < len(name):
            octal = name[index + 1 : index + 4]
            if len(octal) == 3 and all(c in '01234567' for c in octal):
                out.append(int(octal, 8))
                index += 4
                continue
            if name[index + 1] in _C_ESCAPES:
                out.append(_C_ESCAPES[name[index + 1]])
                index += 2
                continue
        out.extend(char.encode('utf-8', 'surrogateescape'))
        index += 1
    return out.decode('utf-8', 'surrogateescape')


def mode_from_ls(entry: LsEntry | dict[str, Any]) -> int:
    """``st_mode`` from an ls entry's ``type`` and ``permissions`` (``rwxr-xr-x``, with s/S/t/T)."""
    perms = entry.get('permissions', '')[:9].ljust(9, '-')
    mode = _FILE_TYPES.get(entry.get('type', '-'), stat.S_IFREG)
    bits = (
        stat.S_IRUSR, stat.S_IWUSR, stat.S_IXUSR,
        stat.S_IRGRP, stat.S_IWGRP, stat.S_IXGRP,
        stat.S_IROTH, stat.S_IWOTH, stat.S_IXOTH,
    )  # fmt: skip
    for char, bit in zip(perms, bits, strict=True):
        if char not in '-ST':
            mode |= bit
    specials = ((2, 's', 'S', stat.S_ISUID), (5, 's', 'S', stat.S_ISGID), (8, 't', 'T', stat.S_ISVTX))
    for position, lower, upper, bit in specials:
        if perms[position] in (lower, upper):
            mode |= bit
    return mode
