""":class:`.remote.Remote` on FirecREST v1: the same operations, records and errors as on v2.

Files go through ``/utilities`` (one direct command each; ``rm``, ``cp``, ``mv``, ``compress`` and
``extract`` fall back to an ``xfer``-partition job of ``/storage/xfer-internal`` when the server stopped
the direct command: its ``UTILITIES_TIMEOUT``, or an output larger than its SSH window), staged transfers
through ``/storage/xfer-external`` and its object store (the base class
:class:`.staged_v1.V1StagedTransfers`), jobs through ``/compute`` (``squeue`` for the job list, ``sacct``
for one job). Every long operation is a task, polled with backoff by
:meth:`.client_v1.FirecrestV1Client.task`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import posixpath
import stat
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .client import JobState
from .client_v1 import FirecrestV1Client, TaskError, translate_v1_errors
from .paths import V1_FORBIDDEN_CHARACTERS
from .records_v1 import (
    COMPRESSION_TYPES,
    acct_job_record,
    ls_entry,
    queue_job_record,
    system_description,
    userinfo,
)
from .remote import JobRecord, LsEntry, Stat
from .server_facts import SERVER_FACTS
from .staged_v1 import V1StagedTransfers

__all__ = ('V1_API_VERSION', 'FirecrestV1Remote', 'SubmissionOutcomeUnknownError', 'only_warnings')

LOGGER = logging.getLogger(__name__)

#: What :attr:`FirecrestV1Remote.api_version` says: a release without v2's ``compression`` (gzip only).
V1_API_VERSION = '1.16.0'


class SubmissionOutcomeUnknownError(ConnectionError):
    """A submission whose outcome is unknown: the scheduler adopts the job it may have made (see
    :meth:`.scheduler.FirecrestScheduler._submit`), as after a lost answer."""


def _stopped_by_the_server(headers: Any) -> bool:
    """Whether a v1 answer says the command was stopped, not that it failed: ``X-Timeout``, or the error of
    an output that filled the server's SSH window."""
    return 'X-Timeout' in headers or 'exceeded buffer limit' in str(headers.get('X-Error', ''))


def only_warnings(message: str) -> bool:
    """Whether sbatch's output holds warnings and no error: the v1 server fails a command on any stderr
    text, so a job submitted with a warning is reported as a failed submission."""
    lines = [line.strip().lower() for line in message.splitlines() if line.strip()]
    return bool(lines) and all('warning' in line and 'error' not in line for line in lines)


class FirecrestV1Remote(V1StagedTransfers):
    """:class:`.remote.Remote` on a FirecREST v1 server, through a connected :class:`FirecrestV1Client`."""

    forbidden_characters = V1_FORBIDDEN_CHARACTERS

    def __init__(self, client: FirecrestV1Client) -> None:
        self.client = client
        self.config = client.config

    @property
    def system(self) -> str:
        return self.client.system

    @property
    def changes(self) -> int:
        return self.client.api.changes

    @property
    def api_version(self) -> str | None:
        return V1_API_VERSION

    # ------------------------------------------------------------------------ the server and the user

    async def system_info(self) -> dict[str, Any]:
        """The system as v2 would describe it, from ``/status/parameters`` (cached for the process)."""
        return system_description(self.system, await self.client.parameters())

    def known_system_info(self) -> dict[str, Any] | None:
        known = SERVER_FACTS.known(('v1-parameters', self.config.url))
        return None if known is None else system_description(self.system, known)

    async def max_ops_file_size(self) -> int | None:
        value = (await self.system_info())['dataOperation']['max_ops_file_size']
        return None if value is None else int(value)

    async def userinfo(self) -> dict[str, Any]:
        """``/utilities/whoami`` with groups, asked once per process (concurrent callers wait for it)."""
        key = ('v1-userinfo', self.config.url, self.system, self.config.client_id)
        async with self.client._cache_lock:
            return await SERVER_FACTS.get_or_fetch(key, self._fetch_userinfo)

    async def _fetch_userinfo(self) -> dict[str, Any]:
        with translate_v1_errors():
            return userinfo((await self.client.get('/utilities/whoami', {'groups': True}))['output'])

    # ------------------------------------------------------------------------ files

    async def stat(self, path: str, dereference: bool) -> Stat:
        with translate_v1_errors(path):
            output = await self.client.api.stat(self.system, path, dereference=dereference)
        optional = {key: int(output[key]) for key in ('uid', 'gid', 'atime', 'mtime') if key in output}
        return Stat(int(output['mode']), int(output['size']), **optional)

    async def ls(self, path: str, dereference: bool = False, numeric: bool = False) -> list[LsEntry]:
        """``ls -l`` of ``path/`` (hidden entries included, names unescaped): a link to a directory lists its
        target's entries, as on v2, and a file answers "not a directory"."""
        params: dict[str, Any] = {'showhidden': True, 'targetPath': path.rstrip('/') + '/'}
        if numeric:
            params['numericUid'] = True
        if dereference:
            params['followLinks'] = True
        with translate_v1_errors(path):
            output = await self.client.get('/utilities/ls', params)
        return [ls_entry(entry) for entry in output['output']]

    async def mkdir(self, path: str, parents: bool = False) -> None:
        with translate_v1_errors(path):
            await self.client.api.mkdir(self.system, path, p=parents or None)

    async def chmod(self, path: str, mode: int) -> None:
        with translate_v1_errors(path):
            await self.client.api.chmod(self.system, path, f'{mode:o}')

    async def chown(self, path: str, uid: int, gid: int) -> None:
        with translate_v1_errors(path):
            await self.client.api.chown(self.system, path, str(uid), str(gid))

    async def symlink(self, target: str, link: str) -> None:
        with translate_v1_errors(link):
            await self.client.api.symlink(self.system, target, link)

    async def rm(self, path: str) -> None:
        with translate_v1_errors(path):
            await self._direct_or_job(
                lambda: self.client.api.simple_delete(self.system, path), 'rm', {'targetPath': path}
            )

    async def mv(self, source: str, destination: str) -> None:
        with translate_v1_errors(source):
            await self._direct_or_job(
                lambda: self.client.api.mv(self.system, source, destination),
                'mv',
                {'sourcePath': source, 'targetPath': destination},
                before_job=lambda: self._remove_partial_target(source, destination),
            )

    async def cp(self, source: str, destination: str, dereference: bool) -> None:
        """``cp --force -dR --preserve=all``: links are copied as links; with ``dereference``, see
        :meth:`_dereferencing_cp`."""
        if dereference:
            await self._dereferencing_cp(source, destination)
            return
        with translate_v1_errors(source):
            await self._direct_or_job(
                lambda: self.client.api.copy(self.system, source, destination),
                'cp',
                {'sourcePath': source, 'targetPath': destination},
                before_job=lambda: self._remove_partial_target(source, destination),
            )

    async def _remove_partial_target(self, source: str, destination: str) -> None:
        """Before a stopped ``cp -R`` or ``mv`` runs again as a job: a directory ``destination`` without
        ``basename(source)`` in it did not exist before (the command would have written inside it), so it is
        the stopped command's partial copy; it is removed, or the job would put the source inside it. (A
        file is overwritten by the job; so is the partial copy inside a directory that existed.)
        """
        try:
            target = await self.stat(destination, dereference=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(target.mode):
            return
        try:
            await self.stat(posixpath.join(destination, posixpath.basename(source)), dereference=False)
        except FileNotFoundError:
            LOGGER.info('Removing the partial copy %s of a stopped command before its job', destination)
            await self.rm(destination)

    async def _dereferencing_cp(self, source: str, destination: str) -> None:
        """v1's copy keeps links (``cp -d``), its ``compress`` can follow them (``tar --dereference``): the
        source is archived with its links followed into a hidden directory beside ``destination``, extracted
        there and moved to ``destination`` (as ``cp`` would: into it if it is a directory); the hidden
        directory is removed, also after a failure. Five requests instead of one.
        """
        staging = posixpath.join(posixpath.dirname(destination), f'.aiida-firecrest-copy-{uuid.uuid4().hex}')
        archive = posixpath.join(staging, 'copy.tar.gz')
        await self.mkdir(staging)
        try:
            await self.compress(source, archive, dereference=True, compression='gzip')
            await self.extract(archive, staging, 'gzip')
            await self.mv(posixpath.join(staging, posixpath.basename(source)), destination)
        finally:
            await self.rm(staging)

    async def compress(
        self, source: str, archive: str, dereference: bool, compression: str, about: str | None = None
    ) -> None:
        """``tar -czf archive -C dirname(source) basename(source)``: v1 compresses with gzip always."""
        data = {'sourcePath': source, 'targetPath': archive}
        if dereference:
            data['dereference'] = 'true'
        with translate_v1_errors(source if about is None else about):
            await self._direct_or_job(lambda: self.client.post('/utilities/compress', data), 'compress', data)

    async def extract(self, archive: str, directory: str, compression: str) -> None:
        """``tar -x`` of ``archive`` into ``directory``; the server reads the compression from ``type``."""
        kind = COMPRESSION_TYPES.get(compression, '.tar')
        data = {'sourcePath': archive, 'targetPath': directory, 'type': kind, 'extension': kind}
        with translate_v1_errors(archive):
            await self._direct_or_job(lambda: self.client.post('/utilities/extract', data), 'extract', data)

    async def _direct_or_job(
        self,
        direct: Any,
        operation: str,
        data: dict[str, Any],
        before_job: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run a direct ``/utilities`` call; if the server stopped it (its command timeout, or an output
        larger than its SSH window: ``tar -v`` of a large tree), ``before_job`` (what the stopped command
        left to undo), then the same operation as an ``xfer`` job (``/storage/xfer-internal/{operation}``),
        waited for and checked."""
        try:
            await direct()
        except OSError:
            raise
        except Exception as exc:
            responses = getattr(exc, 'responses', None) or []
            if not responses or not _stopped_by_the_server(responses[-1].headers):
                raise
            LOGGER.info(
                'FirecREST stopped a direct %s (time or output limit); running it as a job', operation
            )
            if before_job is not None:
                await before_job()
            await self._xfer_job(operation, data)

    async def _xfer_job(self, operation: str, data: dict[str, Any]) -> None:
        body = {**data, **({'account': self.client.account} if self.client.account else {})}
        job = await self.client.task_result(
            await self.client.post(f'/storage/xfer-internal/{operation}', body)
        )
        job_id = str(job['jobid'])
        delay = 0.5
        while True:
            records = await self.job(job_id)
            state = JobState(records[0]['status']['state'] if records else None, None)
            if state.finished:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        errors = await self._read_text(str(job.get('job_file_err') or ''))
        if not state.succeeded or errors.strip():
            raise OSError(
                errno.EIO, f'FirecREST {operation} job {job_id} failed: {errors.strip() or state.name}'
            )

    async def _read_text(self, path: str) -> str:
        if not path:
            return ''
        try:
            return await self.view(path)
        except OSError:
            return ''

    async def view(self, path: str) -> str:
        """The file's content (``/utilities/download``: v1's ``view`` gives only its first 10 lines)."""
        with translate_v1_errors(path):
            return (await self._download_bytes(path)).decode('utf-8', errors='replace')

    async def checksum(self, path: str) -> str:
        with translate_v1_errors(path):
            return str(await self.client.api.checksum(self.system, path)).lower()

    # ------------------------------------------------------------------------ direct transfers

    async def upload(self, local: Path, remote: str) -> None:
        directory, name = posixpath.split(remote)
        with translate_v1_errors(remote):
            await self.client.api.simple_upload(self.system, str(local), directory, name)

    async def download(self, remote: str, local: Path) -> None:
        with translate_v1_errors(remote):
            content = await self._download_bytes(remote)
        local.write_bytes(content)

    async def _download_bytes(self, remote: str) -> bytes:
        api = self.client.api
        response = await api._get_request(
            endpoint='/utilities/download',
            additional_headers=self.client.machine,
            params={'sourcePath': remote},
        )
        if response.status_code != 200:
            self.client.answer(response, 200)
        return bytes(response.content)

    # ------------------------------------------------------------------------ jobs

    async def submit(
        self, working_directory: str, script_path: str | None = None, script: str | None = None
    ) -> str:
        """Submit a job script by its server path (``/compute/jobs/path``: it runs in the script's
        directory); a script's content is first uploaded into ``working_directory``, and removed after."""
        if script is not None:
            path = posixpath.join(working_directory, f'.aiida-firecrest-{uuid.uuid4().hex}.sh')
            local = Path(_temp_file(script))
            try:
                await self.upload(local, path)
            finally:
                local.unlink()
            try:
                return await self.submit(working_directory, script_path=path)
            finally:
                await self._remove_quietly(path)
        data: dict[str, Any] = {'targetPath': script_path}
        if self.client.account:
            data['account'] = self.client.account
        with translate_v1_errors(script_path):
            answer = await self.client.post('/compute/jobs/path', data)
            try:
                result = await self.client.task_result(answer)
            except TaskError as exc:
                if only_warnings(exc.message):
                    raise SubmissionOutcomeUnknownError(
                        f'FirecREST v1 reported the submission of {script_path} as failed, but sbatch only '
                        f'warned ({exc.message.strip()}): the job may exist; the next attempt looks for it'
                    ) from exc
                raise
        return str(result['jobid'])

    async def _remove_quietly(self, path: str) -> None:
        try:
            await self.rm(path)
        except OSError as exc:
            LOGGER.debug('Could not remove %s: %s', path, exc)

    async def jobs(self) -> list[JobRecord]:
        """The user's jobs of today, pending, running and finished (``sacct``: one request and its task's
        polls). ``squeue`` (``/compute/jobs``) would not list a job that has just finished, and the
        scheduler would take such a job for one the queue does not know yet; but ``sacct`` has no pending
        reason, so while jobs pend, ``squeue`` is asked for theirs (one more request): a held job is seen
        held."""
        with translate_v1_errors():
            data = await self.client.task_result(await self.client.get('/compute/acct'))
        records = [acct_job_record(record) for record in (data.values() if isinstance(data, dict) else data)]
        pending = [record for record in records if record['status'].get('state') == 'PENDING']
        if pending:
            reasons = {
                str(queued['jobId']): queued['status'].get('stateReason')
                for queued in await self.queued_jobs([str(record['jobId']) for record in pending])
            }
            for record in pending:
                record['status']['stateReason'] = reasons.get(str(record['jobId']), 'None')
        return records

    async def queued_jobs(self, job_ids: list[str] | None = None) -> list[JobRecord]:
        """The user's pending and running jobs (``squeue``; only ``job_ids`` if given), with the reasons
        why pending ones wait."""
        params = None if job_ids is None else {'jobs': ','.join(job_ids)}
        with translate_v1_errors():
            data = await self.client.task_result(await self.client.get('/compute/jobs', params))
        records = data.values() if isinstance(data, dict) else data
        return [queue_job_record(record) for record in records]

    async def job(self, job_id: str) -> list[JobRecord]:
        """The accounting record of one job, however old (``sacct --jobs``); [] if it has none."""
        with translate_v1_errors():
            data = await self.client.task_result(await self.client.get('/compute/acct', {'jobs': job_id}))
        records = data.values() if isinstance(data, dict) else data
        return [acct_job_record(record) for record in records if str(record.get('jobid')) == job_id]

    async def cancel(self, job_id: str) -> None:
        with translate_v1_errors():
            response = await self.client.api._delete_request(
                endpoint=f'/compute/jobs/{job_id}', additional_headers=self.client.machine
            )
            await self.client.task_result(self.client.answer(response, 200))


def _temp_file(content: str) -> str:
    with tempfile.NamedTemporaryFile('w', suffix='.sh', delete=False) as handle:
        handle.write(content)
    return handle.name
