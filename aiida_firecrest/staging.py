"""Staged transfers: one file through the centre's object storage and a server transfer job.

``POST transfer/upload`` answers presigned URLs for a multipart upload and submits a job
(``IngressFileTransfer``) that looks for the object when it starts, then every
:data:`INGRESS_CHECK_INTERVAL` seconds, and copies it to the target path. ``POST transfer/download``
answers at once a presigned URL of an object that a job (``OutgressFileTransfer``) uploads in parts; the
object exists only once the job has completed that multipart upload (the server's
``src/lib/datatransfers/scripts``).

Every poll of a job is a FirecREST request, so the waits here poll only when the job can have finished:

* upload (:class:`IngressPolls`): first when the job can have seen and copied the object, then at the
  job's next look for it, known from how long the job has been running; never more than
  :data:`MAX_POLL_GAP` apart;
* download: the object itself is probed (object-storage requests, not FirecREST's) and the job is polled
  only rarely, to notice that it failed.

A job that cannot complete (an error, or a wait given up) is cancelled, so that it does not keep looking
for an object for hours. The job scripts put the path into a shell command line, HTML-escaped (the
templates are rendered with autoescape) and, for downloads, unquoted: :func:`job_script_safe` tells the
paths they handle; the transfer layer moves the others inside a tar archive with a safe temporary name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time
from pathlib import Path
from typing import Any

from .capabilities import staged_transfer_method
from .client import FirecrestClient, JobState, TransferJobError, translate_errors
from .settings import MIB

__all__ = ('INGRESS_CHECK_INTERVAL', 'IngressPolls', 'download', 'job_script_safe', 'upload')

#: The ingress job looks for the object at its start, then every 60 s (``sleep 60`` in every server version).
INGRESS_CHECK_INTERVAL = 60.0
#: A transfer job starts about a second after its submission (recordings 71, 72).
FIRST_UPLOAD_POLL = 1.0
#: Bytes per second assumed for a job's copy between the object storage and the cluster.
COPY_RATE = 100 * MIB
#: The longest wait between two polls of an upload's job (in case its script looks more often).
MAX_POLL_GAP = 30.0
#: Margin for the one-second resolution of the scheduler's elapsed time, and the job's own steps.
SLACK = 1.0
#: Probes of a staged download's object: the first delay, its growth factor and its cap (seconds).
PROBE_FIRST, PROBE_GROWTH, PROBE_MAX = 0.1, 1.5, 2.0
#: Polls of a staged download's job, only to notice a failure: the first delay, growth and cap (seconds).
DOWNLOAD_POLL_FIRST, DOWNLOAD_POLL_GROWTH, DOWNLOAD_POLL_MAX = 5.0, 3.0, 60.0
#: How long a submitted job may stay unknown to the scheduler (its database lags) before that is an error.
JOB_UNKNOWN_LIMIT = 60.0
#: Characters of a path the job scripts pass through unchanged (HTML escaping, unquoted shell word).
_JOB_SCRIPT_SAFE = re.compile(r'[A-Za-z0-9_./+,=@%:-]+')


def job_script_safe(path: str) -> bool:
    """Whether the server's staged-transfer job scripts handle ``path`` (letters, digits, ``_./+,=@%:-``).

    The download job assigns the path unquoted (``input_file=/a b`` runs ``b``), and both jobs' templates
    HTML-escape it (``&`` becomes ``&amp;``); anything else (spaces, quotes, ``$``, ``~``, non-ASCII...)
    is refused here, conservatively.
    """
    return _JOB_SCRIPT_SAFE.fullmatch(path) is not None


@dataclasses.dataclass
class IngressPolls:
    """When to poll the job of a staged upload of ``size`` bytes, in seconds after the object was complete.

    The job copies the object once it has seen it: at its start if it started after the object was
    complete, else at its next look (every :data:`INGRESS_CHECK_INTERVAL` s from its start). The first
    poll comes when a job started meanwhile can be done; later ones when the job's next look and copy
    are over, by how long it has been running, or after a doubling backoff when that says nothing.
    """

    size: int
    backoff: float = 1.0

    @property
    def copy_time(self) -> float:
        return self.size / COPY_RATE

    def first(self) -> float:
        """Seconds from the end of the object upload to the first poll."""
        return FIRST_UPLOAD_POLL + self.copy_time

    def next(self, waited: float, running_for: float | None) -> float:
        """Seconds to the next poll, ``waited`` s after the object was complete.

        :param running_for: how long the job has been running (the scheduler's elapsed time), None if
            it has not started.
        """
        if running_for is not None:
            started = waited - running_for  # before 0: the job was running before the object was complete
            if started >= -SLACK:
                first_look = started
            else:
                looks = math.ceil(-started / INGRESS_CHECK_INTERVAL)
                first_look = started + looks * INGRESS_CHECK_INTERVAL
            ahead = first_look + self.copy_time + SLACK - waited
            if ahead > SLACK:
                return min(ahead, MAX_POLL_GAP)
        delay, self.backoff = self.backoff, min(self.backoff * 2, MAX_POLL_GAP)
        return delay


async def upload(client: FirecrestClient, local: Path, remote: str, size: int) -> None:
    """Upload ``local`` (``size`` bytes) to the server path ``remote`` through the object storage.

    Returns when the transfer job has ended successfully; the caller verifies the result.

    :raises OSError: if the server refuses, the object upload fails or the job fails (with its error log).
    """
    method = staged_transfer_method(await client.system_info())
    with translate_errors(remote):
        info = await client.start_staged_upload(remote, size, method)
        job = info['transferJob']
        try:
            await client.upload_to_stage(info, local)
            state = await _wait_for_ingress(client, job, IngressPolls(size))
        except BaseException:
            await asyncio.shield(client.cancel_transfer_job(job))
            raise
        if not state.succeeded:
            raise await client.transfer_job_failure(job)


async def _wait_for_ingress(client: FirecrestClient, job: dict[str, Any], polls: IngressPolls) -> JobState:
    """Poll the upload's job on the schedule of ``polls`` until it has ended; its last state."""
    ended = time.monotonic()
    await asyncio.sleep(polls.first())
    unknown_since: float | None = None
    while True:
        state = await client.transfer_job_state(job)
        if state.finished:
            return state
        now = time.monotonic()
        unknown_since = _check_known(state, unknown_since, now, job)
        await asyncio.sleep(polls.next(now - ended, state.running_for))


async def download(client: FirecrestClient, remote: str, local: Path) -> None:
    """Download the server file ``remote`` to ``local`` through the object storage.

    The object is probed until it exists, then streamed to ``local``; the caller verifies the result.

    :raises OSError: if the server refuses, the object cannot be read or the job fails (with its error log).
    """
    method = staged_transfer_method(await client.system_info())
    with translate_errors(remote):
        info = await client.start_staged_download(remote, method)
        job = info['transferJob']
        url = _download_url(info)
        try:
            await _fetch_when_ready(client, job, url, local)
        except TransferJobError:
            raise  # the job has ended
        except BaseException:
            await asyncio.shield(client.cancel_transfer_job(job))
            raise


async def _fetch_when_ready(client: FirecrestClient, job: dict[str, Any], url: str, local: Path) -> None:
    """Probe the object at ``url`` until it exists and write it to ``local``.

    :raises TransferJobError: if the job ended without creating the object.
    """
    probe, gap = PROBE_FIRST, DOWNLOAD_POLL_FIRST
    next_poll = time.monotonic() + gap
    unknown_since: float | None = None
    while not await client.fetch_object(url, local):
        now = time.monotonic()
        if now >= next_poll:
            state = await client.transfer_job_state(job)
            if state.finished:
                if await client.fetch_object(url, local):  # completed between the probe and the poll
                    return
                raise await client.transfer_job_failure(job)
            unknown_since = _check_known(state, unknown_since, now, job)
            gap = min(gap * DOWNLOAD_POLL_GROWTH, DOWNLOAD_POLL_MAX)
            next_poll = now + gap
        await asyncio.sleep(min(probe, max(0.0, next_poll - now)))
        probe = min(probe * PROBE_GROWTH, PROBE_MAX)


def _check_known(
    state: JobState, unknown_since: float | None, now: float, job: dict[str, Any]
) -> float | None:
    """When the job was first seen unknown to the scheduler (None if it is known).

    :raises FileNotFoundError: if it has been unknown for longer than :data:`JOB_UNKNOWN_LIMIT`.
    """
    if state.name is not None:
        return None
    if unknown_since is None:
        return now
    if now - unknown_since > JOB_UNKNOWN_LIMIT:
        raise FileNotFoundError(f'The scheduler does not know the transfer job {job.get("jobId")}')
    return unknown_since


def _download_url(info: dict[str, Any]) -> str:
    """The presigned URL of a staged download's object (the spellings pyfirecrest accepts)."""
    directives = info.get('transferDirectives') or {}
    url = info.get('downloadUrl') or directives.get('downloadUrl') or directives.get('download_url')
    if not url:
        raise OSError('The FirecREST server answered the staged download without a download URL')
    return str(url)
