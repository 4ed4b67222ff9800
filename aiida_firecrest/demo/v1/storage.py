"""``/storage`` of FirecREST v1: ``xfer-internal`` jobs, ``xfer-external`` transfers through the object store.

* ``POST /storage/xfer-internal/{cp,mv,rm,rsync,compress,extract}`` submit a job on partition ``xfer``
  (``cp --force -dR --preserve=all``, ``mv --force``, ``rm -rf``, ``tar -czf``...); the task's data is
  the submission's, as for ``/compute/jobs/upload``. A failing command fails the job (its stderr is in
  ``job_file_err``).
* ``POST /storage/xfer-external/upload``: the task reaches 111 with a presigned POST form
  (``data.msg.parameters``, and ``data.msg.command``, the ``curl`` line that sends it); the server looks
  for the object every ``ingress_poll_interval`` seconds, then copies it to ``target_path`` (112, 113, 114;
  115 on error).
* ``POST /storage/xfer-external/download``: the server uploads the file to the object store (116), then
  the task is 117 with the object's presigned URL in ``data.url`` (118 on error).
* ``POST /storage/xfer-external/invalidate`` (header ``X-Task-Id``) removes a download's object.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path
from typing import Annotated, Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Header

from .. import changes, coreutils, s3
from ..auth import CurrentUser
from ..job_model import JobSpec
from .compute import submitted
from .errors import V1Error
from .paths import checked, invalid_input, operation
from .state import FormText, Machine, SourceForm, State, TargetForm, V1State, runner, s3_client
from .tasks import SUCCESS, Task
from .utilities import extraction

__all__ = ('router',)

router = APIRouter(prefix='/storage')
XFER_PARTITION = 'xfer'
#: ``F7T_XFER_TIME``-like default limit of an internal transfer job, in seconds.
XFER_TIME_LIMIT = 2 * 3600


def _created(task: Task) -> dict[str, Any]:
    return {'success': 'Task created', 'task_id': task.hash_id, 'task_url': f'/tasks/{task.hash_id}'}


def _xfer_job(
    state: V1State, user: str, machine: str, name: str, command: str, account: str | None
) -> dict[str, Any]:
    """Submit ``command`` as a job on the ``xfer`` partition; the answer with its (already done) task."""
    home = str(state.settings.home)
    script = f'#!/bin/bash\nexport LC_ALL=C\n{command}\n'
    spec = JobSpec(
        name=name or 'firecrest-xfer',
        script=script,
        working_directory=home,
        account=account or state.settings.account,
        partition=XFER_PARTITION,
        time_limit=XFER_TIME_LIMIT,
        standard_output=f'{home}/.f7t-xfer-%j.out',
        standard_error=f'{home}/.f7t-xfer-%j.err',
    )
    job = runner(state).start(spec)
    task = state.tasks.create(user, 'storage', machine)
    task.set(SUCCESS, submitted(state, job))
    return {'success': 'Task created', 'task_id': task.hash_id}


def _quoted(*paths: str) -> list[str]:
    return [shlex.quote(path) for path in paths]


@router.post('/xfer-internal/cp', status_code=201)
async def internal_cp(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    source, target = _quoted(*_paths(state, user, 'cp', source_path, target_path))
    return _xfer_job(
        state, user, machine, jobname or '', f'cp --force -dR --preserve=all -- {source} {target}', account
    )


@router.post('/xfer-internal/mv', status_code=201)
async def internal_mv(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    source, target = _quoted(*_paths(state, user, 'mv', source_path, target_path))
    return _xfer_job(state, user, machine, jobname or '', f'mv --force -- {source} {target}', account)


@router.post('/xfer-internal/rsync', status_code=201)
async def internal_rsync(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    source, target = _quoted(*_paths(state, user, 'rsync', source_path, target_path))
    return _xfer_job(state, user, machine, jobname or '', f'rsync -av -- {source} {target}', account)


@router.post('/xfer-internal/rm', status_code=201)
async def internal_rm(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetForm = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    (target,) = _quoted(checked(state.settings, target_path, 'targetPath', 'rm', user))
    return _xfer_job(state, user, machine, jobname or '', f'rm -rf -- {target}', account)


@router.post('/xfer-internal/compress', status_code=201)
async def internal_compress(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    dereference: FormText = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    source, target = _paths(state, user, 'compress', source_path, target_path)
    parent, name = _quoted(*os.path.split(os.path.normpath(source)))
    deref = '--dereference ' if (dereference or '').lower() in ('true', '1') else ''
    command = f'tar {deref}-czf {shlex.quote(target)} -C {parent} {name}'
    return _xfer_job(state, user, machine, jobname or '', command, account)


_TAR_FLAGS = {'none': '', 'gzip': 'z', 'bzip2': 'j'}


@router.post('/xfer-internal/extract', status_code=201)
async def internal_extract(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    type: FormText = None,
    jobname: FormText = None,
    account: FormText = None,
) -> dict[str, Any]:
    source, target = _paths(state, user, 'extract', source_path, target_path)
    flag = _TAR_FLAGS[extraction(source, type, 'extract').value]
    command = f'tar -x{flag}f {shlex.quote(source)} -C {shlex.quote(target)}'
    return _xfer_job(state, user, machine, jobname or '', command, account)


def _paths(
    state: V1State, user: str, command: str, source: str | None, target: str | None
) -> tuple[str, str]:
    return (
        checked(state.settings, source, 'sourcePath', command, user),
        checked(state.settings, target, 'targetPath', command, user),
    )


# --- xfer-external -------------------------------------------------------------------------------


def _upload_target(state: V1State, target: str, source: str) -> str:
    """``target_path`` a directory: the file goes into it under the source's name; else the path itself."""
    if os.path.isdir(target):
        return os.path.join(target, os.path.basename(source))
    if os.path.isdir(os.path.dirname(target)):
        return target
    header = {'X-Invalid-Path': f'{target} is an invalid path'}
    raise V1Error(400, 'Failed to upload file', "'targetPath' directory not allowed", header)


@router.post('/xfer-external/upload', status_code=201)
async def external_upload(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
) -> dict[str, Any]:
    target = checked(state.settings, target_path, 'targetPath', 'upload', user)
    if invalid_input(source_path) or source_path is None:
        raise V1Error(400, 'Failed to upload file', f"'sourcePath' {invalid_input(source_path)}")
    target = _upload_target(state, target, source_path)
    client = await s3_client(state)
    task = state.tasks.create(user, 'storage', machine, {'source': source_path, 'target': target})
    key = f'{task.hash_id}/{os.path.basename(source_path)}'
    bucket = state.settings.s3_bucket
    form = await asyncio.to_thread(
        client.generate_presigned_post, Bucket=bucket, Key=key, ExpiresIn=s3.URL_EXPIRY
    )
    command = f'curl -f --show-error -s -i -X POST {form["url"]}'
    command += ''.join(f" -F '{name}={value}'" for name, value in form['fields'].items())
    command += f" -F file=@'{source_path}'"
    parameters = {
        'method': 'POST',
        'url': form['url'],
        'data': form['fields'],
        'files': source_path,
        'json': {},
        'params': {},
        'headers': {},
    }
    msg = {'parameters': parameters, 'command': command, 'download_url': '', 'action': '', 'cert': []}
    task.set('111', {'source': source_path, 'target': target, 'msg': msg, 'system_name': machine})
    state.spawn(_ingress(state, task, key, target))
    return _created(task)


async def _ingress(state: V1State, task: Task, key: str, target: str) -> None:
    """Wait for the object, then copy it to ``target`` (what the server's upload checker thread does)."""
    client, bucket = await s3_client(state), state.settings.s3_bucket
    while await asyncio.to_thread(s3.object_size, client, bucket, key) is None:
        await asyncio.sleep(state.settings.ingress_poll_interval)
    about = {'source': key.rpartition('/')[2], 'target': target, 'system_name': task.system}
    task.set('112', about)
    task.set('113', about)
    try:
        content = await asyncio.to_thread(s3.read_object, client, bucket, key)
        with operation('upload'):
            changes.write_upload(state.settings, target, content)
        await asyncio.to_thread(client.delete_object, Bucket=bucket, Key=key)
    except (V1Error, BotoCoreError, ClientError) as exc:
        task.set('115', {**about, 'error': str(exc)})
        return
    task.set('114', about)


@router.post('/xfer-external/download', status_code=201)
async def external_download(
    state: State, machine: Machine, user: CurrentUser, source_path: SourceForm = None
) -> dict[str, Any]:
    source = checked(state.settings, source_path, 'sourcePath', 'download', user)
    with operation('download'):
        coreutils.base64_input_size(state.settings, source)  # a missing, unreadable file or a directory
    client = await s3_client(state)
    task = state.tasks.create(user, 'storage', machine, {'source': source, 'system_name': machine})
    task.set('116', {'source': source, 'system_name': machine})
    state.spawn(_egress(state, task, client, source))
    return _created(task)


async def _egress(state: V1State, task: Task, client: Any, source: str) -> None:
    bucket = state.settings.s3_bucket
    key = f'{task.hash_id}/{os.path.basename(source)}'
    about = {'source': source, 'system_name': task.system}
    try:
        await asyncio.to_thread(
            s3.upload_multipart, client, bucket, key, Path(source), state.settings.s3_max_part_size
        )
        url = await asyncio.to_thread(s3.presigned_download, client, bucket, key)
    except (OSError, BotoCoreError, ClientError) as exc:
        task.set(
            '118',
            {
                **about,
                'error': f'Upload to Staging area has failed. Object: {os.path.basename(source)}. {exc}',
            },
        )
        return
    task.set('117', {**about, 'url': url})


@router.post('/xfer-external/invalidate', status_code=201)
async def invalidate(
    state: State, user: CurrentUser, x_task_id: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    if not x_task_id:
        raise V1Error(400, 'Header X-Task-Id missing', 'Header X-Task-Id missing')
    task = state.tasks.get(x_task_id)
    if task is None or task.user != user:
        raise V1Error(400, 'Invalid X-Task-Id', 'Invalid X-Task-Id')
    source = str((task.data or {}).get('source', '')) if isinstance(task.data, dict) else ''
    key = f'{task.hash_id}/{os.path.basename(source)}'
    client = state.s3_client
    if client is not None:
        await asyncio.to_thread(client.delete_object, Bucket=state.settings.s3_bucket, Key=key)
    return {'success': 'URL invalidated successfully'}
