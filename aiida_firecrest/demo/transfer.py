"""Demo server: ``/filesystem/{system}/transfer/*``, each request becoming a job as on the real server.

``cp``, ``mv``, ``rm``, ``compress`` and ``extract`` submit bash jobs on partition ``xfer`` that
write the real server's log lines (exchanges 60-70): an operational failure (a missing source)
still ends ``COMPLETED``, with the error only in the error log. ``upload`` and ``download`` stage
data through S3 (moto) with presigned multipart URLs; their jobs run inside the server and move
the bytes between the bucket and the file system (exchanges 71-74), treating paths as the real job
scripts do: HTML-escaped by their templates, and unquoted in the download job (a name with a space
fails it with ``file_not_found``; the shell's complaint about the rest of the name is approximated).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request

from . import filesystem, s3
from .access import READ, check_path, require_access
from .auth import CurrentUser, SystemName
from .changes import write_upload
from .errors import FirecrestHTTPError, RemoteCommandError, remote_failure
from .job_model import Action, Job, JobSpec
from .routing import CamelModel, demo_settings, source_path_field
from .s3 import S3Client
from .settings import MIB, DemoSettings
from .state import demo_state, job_runner

router = APIRouter()

TRANSFER_PARTITION = 'xfer'
TRANSFER_TIME_LIMIT = 900
METHOD_NOT_AVAILABLE = 'Requested transfer method is not available.'


class TransferRequest(CamelModel):
    """What every transfer request may carry besides its paths."""

    account: str | None = None
    """Accepted and not used: the recorded Slurm accounts every job to the user's default account."""


class MoveRequest(TransferRequest):
    source_path: str = source_path_field()
    target_path: str


class CopyRequest(MoveRequest):
    dereference: bool = False


class CompressRequest(filesystem.CompressRequest, TransferRequest):
    """The body of ``ops/compress``, plus ``account``."""


class ExtractRequest(filesystem.ExtractRequest, TransferRequest):
    """The body of ``ops/extract``, plus ``account``."""


class TransferDirectives(CamelModel):
    transfer_method: str
    file_size: int | None = None


class StagedTransferRequest(TransferRequest):
    source_path: str = source_path_field()
    transfer_directives: TransferDirectives


def log_time() -> str:
    """The time as ``date -u`` prints it in the job logs."""
    return time.strftime('%a %b %e %H:%M:%S UTC %Y', time.gmtime())


def job_script(title: str, command: str, done: str, verb: str) -> str:
    """A transfer job script that logs as the real one does (``exit code:0`` in the error is sic)."""
    return (
        '#!/bin/bash\n'
        'export LC_ALL=C\n'
        f'echo "$(date -u) {title} Job (id:${{SLURM_JOB_ID:-${{PBS_JOBID:-unknown}}}})"\n'
        f'if {command}; then\n'
        f'    echo "$(date -u) Files were successfully {done}."\n'
        'else\n'
        f'    echo "$(date -u) Unable to {verb} files exit code:0 error: " >&2\n'
        'fi\n'
    )


def _submit(request: Request, name: str, script: str, action: Action | None = None) -> dict[str, Any]:
    """Start a transfer job; the ``transferJob`` part of the reply."""
    settings = demo_settings(request)
    home = str(settings.home)
    tag = uuid.uuid4()
    logs = {
        'outputLog': f'{home}/.f7t_file_handling_job_{tag}.log',
        'errorLog': f'{home}/.f7t_file_handling_job_error_{tag}.log',
    }
    spec = JobSpec(
        name=name,
        script=script,
        working_directory=home,
        account=settings.account,
        partition=TRANSFER_PARTITION,
        time_limit=TRANSFER_TIME_LIMIT,
        standard_output=logs['outputLog'],
        standard_error=logs['errorLog'],
        action=action,
    )
    job = job_runner(request).start(spec)
    return {
        'transferJob': {
            'jobId': str(job.id),
            'system': settings.system_name,
            'workingDirectory': home,
            'logs': logs,
        }
    }


def _checked_for_shell(request: Request, user: str, *paths: str) -> list[str]:
    """The paths, checked as the real server checks them (400 outside the file systems), as its job
    templates write them: HTML-escaped (``a&b`` is ``a&amp;b``), in single quotes."""
    settings = demo_settings(request)
    return [shlex.quote(script_escaped(check_path(settings, path, user))) for path in paths]


@router.post('/filesystem/{system_name}/transfer/cp', status_code=201)
async def copy(request: Request, body: CopyRequest, system: SystemName, user: CurrentUser) -> dict[str, Any]:
    source, target = _checked_for_shell(request, user, body.source_path, body.target_path)
    options = '-rL' if body.dereference else '-r'
    script = job_script('Copy Files', f'cp {options} -- {source} {target}', 'copied', 'copy')
    return _submit(request, 'CopyFiles', script)


@router.post('/filesystem/{system_name}/transfer/mv', status_code=201)
async def move(request: Request, body: MoveRequest, system: SystemName, user: CurrentUser) -> dict[str, Any]:
    source, target = _checked_for_shell(request, user, body.source_path, body.target_path)
    script = job_script('Move Files', f'mv -- {source} {target}', 'moved', 'move')
    return _submit(request, 'MoveFiles', script)


@router.delete('/filesystem/{system_name}/transfer/rm')
async def delete(
    request: Request, path: str, system: SystemName, user: CurrentUser, account: str | None = None
) -> dict[str, Any]:
    """Answers 200, not 201, as the real server does. ``account`` is declared as there, and not used."""
    (target,) = _checked_for_shell(request, user, path)
    script = job_script('Delete Files', f'rm -r -- {target}', 'deleted', 'delete')
    return _submit(request, 'DeleteFiles', script)


def compress_command(body: CompressRequest) -> str:
    """The real server's tar command (recorded in exchange 24's notes), as ``ops/compress`` runs it.

    ``tar -C dirname(source) basename(source)``, so the archive holds ``name/...``; with
    ``matchPattern``, the regular files under ``dirname(source)`` whose ``./relative/path``
    matches, gzip always. (The real command runs ``find`` after ``cd ...;``; here ``&&`` keeps a
    failed ``cd`` from archiving the job's working directory instead.)
    """
    dereference = 'h' if body.dereference else ''
    target = shlex.quote(body.target_path)
    parent, name = (shlex.quote(part) for part in os.path.split(os.path.normpath(body.source_path)))
    if body.match_pattern is not None:
        pattern = shlex.quote(body.match_pattern)
        find = f'find . -type f -regex {pattern} -print0'
        return f'(cd {parent} && {find} | tar -c{dereference}zf {target} --null --files-from -)'
    return f'tar -c{dereference}{body.compression.tar_flag}f {target} -C {parent} {name}'


@router.post('/filesystem/{system_name}/transfer/compress', status_code=201)
async def compress(
    request: Request, body: CompressRequest, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    _checked_for_shell(request, user, body.source_path, body.target_path)
    script = job_script('Compress Files', compress_command(body), 'compressed', 'compress')
    return _submit(request, 'CompressFiles', script)


@router.post('/filesystem/{system_name}/transfer/extract', status_code=201)
async def extract(
    request: Request, body: ExtractRequest, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    """The job is named ``CompressFiles`` too, as on the real server."""
    source, target = _checked_for_shell(request, user, body.source_path, body.target_path)
    command = f'tar -x{body.compression.tar_flag}f {source} -C {target}'
    return _submit(request, 'CompressFiles', job_script('Extract Files', command, 'extracted', 'extract'))


# --- staged transfers through S3 ---------------------------------------------------------------


async def _s3_client(request: Request) -> S3Client:
    """The server's S3 client, with the bucket created on first use; 400 if S3 is not configured."""
    state = demo_state(request)
    settings = state.settings
    if state.s3_client is None:
        if settings.s3_endpoint is None:
            raise FirecrestHTTPError(400, METHOD_NOT_AVAILABLE, user=settings.username)
        client = await asyncio.to_thread(s3.make_client, settings.s3_endpoint)
        await asyncio.to_thread(s3.ensure_bucket, client, settings.s3_bucket)
        state.s3_client = client
    return state.s3_client


async def _staging_object(request: Request, path: str) -> tuple[S3Client, str]:
    """The S3 client, and a fresh object key for staging ``path`` (``<uuid>/<file name>``, as recorded)."""
    return await _s3_client(request), f'{uuid.uuid4()}/{os.path.basename(path)}'


def _check_method(directives: TransferDirectives, user: str) -> None:
    if directives.transfer_method != 's3':
        raise FirecrestHTTPError(400, METHOD_NOT_AVAILABLE, user=user)


class JobLogs:
    """Append lines to a Python-run job's output and error logs."""

    def __init__(self, job: Job) -> None:
        self.output = Path(job.spec.standard_output)
        self.error = Path(job.spec.standard_error)
        self.output.write_text('')
        self.error.write_text('')

    def out(self, line: str, stamp: bool = True) -> None:
        with self.output.open('a') as stream:
            stream.write(f'{log_time()} {line}\n' if stamp else f'{line}\n')

    def err(self, line: str) -> None:
        with self.error.open('a') as stream:
            stream.write(f'{line}\n')


#: What the job templates' HTML escaping (jinja's autoescape) makes of these characters of a path.
_ESCAPES = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;'}
#: Characters that end or change an unquoted shell word.
_SHELL_SPECIAL = frozenset(' \t\n|&;()<>"\'\\$`')
#: Characters a double-quoted shell string expands.
_EXPANDED_IN_QUOTES = frozenset('$`\\')


def script_escaped(path: str) -> str:
    """A path as the staged-transfer job templates write it into the script (HTML-escaped)."""
    return ''.join(_ESCAPES.get(char, char) for char in path)


def unquoted_assignment(value: str) -> tuple[str | None, list[str]]:
    """What bash makes of the line ``name=<value>``: the value assigned, and its complaints on stderr.

    One plain word is assigned as it is. Otherwise the value is not the path: blanks and ``;&|`` end
    the assignment and run what follows as commands (the variable stays unset: each is reported as
    not found, as bash does for a name that is no installed command), and quotes, ``$``, backslashes
    or ``~`` expand it into something else.
    """
    if not set(value) & _SHELL_SPECIAL and ':~' not in value:
        return value, []
    words = value.replace(';', ' ').replace('&', ' ').replace('|', ' ').split()
    complaints = [f'bash: line 1: {word}: command not found' for word in words[1:]]
    return None, complaints


def ingress_action(settings: DemoSettings, client: S3Client, key: str, target: str) -> Action:
    """The upload job (IngressFileTransfer, ``job_s3_downloader.sh``): wait for the object, copy it.

    The script writes to ``"<target>"``, HTML-escaped: ``a&b`` lands at ``a&amp;b``. It checks for the
    object at its start and then every ``ingress_poll_interval`` s (60 s on the real server). A target it
    cannot write does not fail it: its shell reports the error, and the job still ends successfully.
    """
    bucket = settings.s3_bucket

    async def run(job: Job) -> int:
        logs = JobLogs(job)
        logs.out(f'Ingress File Transfer Job (id:{job.id})')
        written = script_escaped(target)
        if set(written) & _EXPANDED_IN_QUOTES:
            logs.err(f'demo server: the job script would expand $, ` or \\ in {written}; not reproduced')
            return 1
        if os.path.isdir(written):
            logs.err(f'{log_time()} targetPath must point to a file path:  is a directory.')
            return 3
        logs.out('Waiting till file to tranfer is available...')
        while await asyncio.to_thread(s3.object_size, client, bucket, key) is None:
            await asyncio.sleep(settings.ingress_poll_interval)
        logs.out('File to transfer found in S3 bucket')
        logs.out(f'Downloading file to: {written} ...')
        try:
            data = await asyncio.to_thread(s3.read_object, client, bucket, key)
        except (BotoCoreError, ClientError):
            logs.err(f'{log_time()} Download failed: part 1')
            return 1
        try:
            await asyncio.to_thread(write_upload, settings, written, data)
        except RemoteCommandError as exc:
            logs.err(exc.stderr)
            logs.err(f"rm: cannot remove '{written}.1': No such file or directory")
        await asyncio.to_thread(client.delete_object, Bucket=bucket, Key=key)
        logs.out(f'Received {len(data)} bytes')
        logs.out(f'File was successfully downloaded (size: {len(data) / MIB:.3f}MB)')
        return 0

    return run


def outgress_action(settings: DemoSettings, client: S3Client, key: str, source: str) -> Action:
    """The download job (OutgressFileTransfer, ``job_s3_uploader_multipart.sh``): upload ``source`` in parts.

    The script assigns ``input_file=<source>`` unquoted and HTML-escaped (:func:`unquoted_assignment`):
    a path with a blank or a shell character is not the path any more, and the job fails with
    ``file_not_found`` (exit 34), as it does for a missing file or a directory. A file it cannot read
    fails its part (``dd``), and the job exits 70 when completing the upload without that part.
    """
    bucket, part_size = settings.s3_bucket, settings.s3_max_part_size

    async def run(job: Job) -> int:
        logs = JobLogs(job)
        input_file, complaints = unquoted_assignment(script_escaped(source))
        for complaint in complaints:
            logs.err(complaint)
        parts = max(1, -(-os.path.getsize(source) // part_size)) if os.path.isfile(source) else 1
        logs.out(f'Upload File Job (id:{job.id})')
        logs.out(f'Uploading file:{input_file or ""} into {parts} chunks', stamp=False)
        if input_file is None or not os.path.isfile(input_file):
            logs.err('file_not_found')
            return 34
        logs.out(f'[INFO] Creating temporary folder:tmp/{uuid.uuid1()}/', stamp=False)
        for number in range(1, parts + 1):
            logs.out(f'[INFO] Uploading part {number}...', stamp=False)
        try:
            require_access(settings, input_file, READ)
        except OSError as exc:
            logs.err(f"dd: failed to open '{input_file}': {exc.strerror}\nerror_generating_part_file 0")
            logs.out('[INFO] Parts upload completed.', stamp=False)
            logs.out('[INFO] Upload of part 1 failed', stamp=False)
            logs.err('upload_failed_part_1')
            logs.out('[INFO] Signaling multipart upload completion', stamp=False)
            return 70
        try:
            etags = await asyncio.to_thread(
                s3.upload_multipart, client, bucket, key, Path(input_file), part_size
            )
        except (OSError, BotoCoreError, ClientError) as exc:
            logs.err(f'[ERROR] {exc}')
            return 1
        logs.out('[INFO] Parts upload completed.', stamp=False)
        for number, etag in enumerate(etags, start=1):
            logs.out(f'[INFO] Upload of part {number} succeded with ETag: {etag}|', stamp=False)
        logs.out('[INFO] Signaling multipart upload completion', stamp=False)
        logs.out('[INFO] Multipart file upload successfully completed', stamp=False)
        return 0

    return run


@router.post('/filesystem/{system_name}/transfer/upload', status_code=201)
async def upload(
    request: Request, body: StagedTransferRequest, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    """Presigned multipart URLs for ``fileSize`` bytes; the job writes the object to ``sourcePath``."""
    settings = demo_settings(request)
    target = check_path(settings, body.source_path, user)
    _check_method(body.transfer_directives, user)
    size = body.transfer_directives.file_size
    if size is None:
        # The real server divides the missing size by the part size: an unhandled TypeError.
        message = "(\"unsupported operand type(s) for /: 'NoneType' and 'int'\",)"
        raise FirecrestHTTPError(500, message)
    client, key = await _staging_object(request, target)
    bucket, part_size = settings.s3_bucket, settings.s3_max_part_size
    directives = await asyncio.to_thread(s3.presigned_upload, client, bucket, key, size, part_size)
    action = ingress_action(settings, client, key, target)
    reply = _submit(request, 'IngressFileTransfer', '#!/bin/bash\n# S3 ingress staging job\n', action)
    return {**reply, 'transferDirectives': directives}


@router.post('/filesystem/{system_name}/transfer/download', status_code=201)
async def download(
    request: Request, body: StagedTransferRequest, system: SystemName, user: CurrentUser
) -> dict[str, Any]:
    """A presigned GET URL at once; the object exists once the job has uploaded ``sourcePath``."""
    settings = demo_settings(request)
    source = check_path(settings, body.source_path, user)
    if not os.path.exists(source):
        raise remote_failure(f"stat: cannot statx '{source}': No such file or directory", 1, user=user)
    _check_method(body.transfer_directives, user)
    client, key = await _staging_object(request, source)
    url = await asyncio.to_thread(s3.presigned_download, client, settings.s3_bucket, key)
    action = outgress_action(settings, client, key, source)
    reply = _submit(request, 'OutgressFileTransfer', '#!/bin/bash\n# S3 outgress staging job\n', action)
    return {**reply, 'transferDirectives': {'transferMethod': 's3', 'downloadUrl': url}}
