"""Staged transfers on FirecREST v1: ``/storage/xfer-external`` tasks and their object store.

A staged transfer's "job" is its task: :class:`.remote.StagedTransfer`'s ``job`` holds the task id, and
``info`` what its polls learnt (the upload form, the download URL, a failure), so that one poll serves
both the object probes and the job's state. An upload sends the file with the task's presigned POST form;
a download fetches the task's presigned URL.
"""

from __future__ import annotations

import logging
import posixpath
from pathlib import Path
from typing import Any

from .client import JobState
from .client_v1 import FirecrestV1Client, TaskError, task_os_error, translate_v1_errors
from .http_stack import fetch_to_file
from .progress import current_progress
from .remote import StagedTransfer

__all__ = ('V1StagedTransfers',)

LOGGER = logging.getLogger(__name__)

#: Task statuses of staged transfers: the upload form is ready; the copy to the system is done...
_FORM_READY, _UPLOADED, _UPLOAD_FAILED = '111', '114', '115'
_DOWNLOAD_READY, _DOWNLOAD_FAILED = '117', '118'


class V1StagedTransfers:
    """The staged-transfer part of :class:`.remote.Remote` on a FirecREST v1 server (``client``'s)."""

    client: FirecrestV1Client

    async def start_staged_upload(self, remote: str, size: int, method: str) -> StagedTransfer:
        data = {'sourcePath': posixpath.basename(remote), 'targetPath': remote}
        with translate_v1_errors(remote):
            answer = await self.client.post('/storage/xfer-external/upload', data)
        task_id = str(answer['task_id'])
        return StagedTransfer(remote, {'kind': 'upload'}, {'jobId': task_id, 'task_id': task_id})

    async def start_staged_download(self, remote: str, method: str) -> StagedTransfer:
        with translate_v1_errors(remote):
            answer = await self.client.post('/storage/xfer-external/download', {'sourcePath': remote})
        task_id = str(answer['task_id'])
        return StagedTransfer(remote, {'kind': 'download'}, {'jobId': task_id, 'task_id': task_id})

    async def upload_to_stage(self, transfer: StagedTransfer, local: Path) -> None:
        """Wait for the task's presigned POST form (status 111), then send the file with it."""
        with translate_v1_errors(transfer.path):
            task = await self.client.task(transfer.job['task_id'], until=frozenset({_FORM_READY, _UPLOADED}))
            form = task['data']['msg']['parameters']
            with local.open('rb') as stream:
                files = {'file': (local.name, stream)}
                response = await self.client.http.post(form['url'], data=form['data'], files=files)
            response.raise_for_status()

    async def fetch_object(self, transfer: StagedTransfer, local: Path) -> bool:
        """Write the object to ``local`` once the task has its URL (one task poll while it has not)."""
        with translate_v1_errors(transfer.path):
            if 'url' not in transfer.info and not await self._poll(transfer):
                return False
            if 'url' not in transfer.info:
                return False
            return await fetch_to_file(self.client.http, transfer.info['url'], local)

    async def _poll(self, transfer: StagedTransfer) -> bool:
        """One poll of a transfer's task; what it says is kept in ``transfer.info``; whether it has ended."""
        task_id = transfer.job['task_id']
        try:
            task = await self.client.task_now(task_id)
        except Exception as exc:
            responses = getattr(exc, 'responses', None) or []
            if responses and responses[-1].status_code == 404:
                return False
            raise
        status = str(task.get('status'))
        data: dict[str, Any] = task['data'] if isinstance(task.get('data'), dict) else {}
        if status == _DOWNLOAD_READY and data.get('url'):
            transfer.info['url'] = str(data['url'])
        if status in (_UPLOAD_FAILED, _DOWNLOAD_FAILED, '400'):
            transfer.info['failure'] = TaskError(
                task_id, status, str(data.get('error') or data.get('msg') or '')
            )
        transfer.info['status'] = status
        return status in (_UPLOADED, _DOWNLOAD_READY, _UPLOAD_FAILED, _DOWNLOAD_FAILED, '400')

    async def transfer_job_state(self, transfer: StagedTransfer) -> JobState:
        """The task's progress as a job state: ``COMPLETED`` once done, ``FAILED`` if it failed."""
        if transfer.info.get('status') not in (_UPLOADED, _DOWNLOAD_READY) and 'failure' not in transfer.info:
            with translate_v1_errors(transfer.path):
                await self._poll(transfer)
        if 'failure' in transfer.info:
            state = JobState('FAILED', None, 1)
        elif transfer.info.get('status') in (_UPLOADED, _DOWNLOAD_READY):
            state = JobState('COMPLETED', None)
        else:
            state = JobState('RUNNING' if 'status' in transfer.info else None, None)
        progress = current_progress()
        if progress is not None and state.name is not None:
            progress.job_state(transfer.job['task_id'], state.name)
        return state

    async def transfer_job_failure(self, transfer: StagedTransfer) -> OSError:
        failure = transfer.info.get('failure')
        if not isinstance(failure, TaskError):
            failure = TaskError(
                transfer.job['task_id'], str(transfer.info.get('status')), 'it did not complete'
            )
        return task_os_error(failure, transfer.path)

    async def cancel_transfer_job(self, transfer: StagedTransfer) -> None:
        """v1 cannot cancel a transfer: a download's object is invalidated, an upload is left to expire."""
        if transfer.info.get('kind') != 'download':
            return
        try:
            await self.client.api._invalidate(transfer.job['task_id'])
        except Exception as exc:  # only logged: the transfer is given up anyway
            LOGGER.debug('Could not invalidate the staged download %s: %s', transfer.job['task_id'], exc)
