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

from .capabilities import staged_transfer_method
from .remote import JobState, Remote, StagedTransfer
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


async def upload(backend: Remote, local: Path, remote: str, size: int) -> None:
    """Upload ``local`` (``size`` bytes) to the server path ``remote`` through the object storage.

    Returns when the transfer job has ended successfully; the caller verifies the result.

    :raises OSError: if the server refuses, the object upload fails or the job fails (with its error log).
    """
    method = staged_transfer_method(await backend.system_info())
    transfer = await backend.start_staged_upload(remote, size, method)
    try:
        await backend.upload_to_stage(transfer, local)
        state = await _wait_for_ingress(backend, transfer, IngressPolls(size))
    except BaseException:
        await asyncio.shield(backend.cancel_transfer_job(transfer))
        raise
    if not state.succeeded:
        raise await backend.transfer_job_failure(transfer)


async def _wait_for_ingress(backend: Remote, transfer: StagedTransfer, polls: IngressPolls) -> JobState:
    """Poll the upload's job on the schedule of ``polls`` until it has ended; its last state."""
    ended = time.monotonic()
    await asyncio.sleep(polls.first())
    unknown_since: float | None = None
    while True:
        state = await backend.transfer_job_state(transfer)
        if state.finished:
            return state
        now = time.monotonic()
        unknown_since = _check_known(state, unknown_since, now, transfer)
        await asyncio.sleep(polls.next(now - ended, state.running_for))


async def download(backend: Remote, remote: str, local: Path) -> None:
    """Download the server file ``remote`` to ``local`` through the object storage.

    The object is probed until it exists, then streamed to ``local``; the caller verifies the result.

    :raises OSError: if the server refuses, the object cannot be read or the job fails (with its error log).
    """
    method = staged_transfer_method(await backend.system_info())
    transfer = await backend.start_staged_download(remote, method)
    try:
        failure = await _fetch_when_ready(backend, transfer, local)
    except BaseException:
        await asyncio.shield(backend.cancel_transfer_job(transfer))
        raise
    if failure is not None:
        raise failure  # the job has ended


async def _fetch_when_ready(backend: Remote, transfer: StagedTransfer, local: Path) -> OSError | None:
    """Probe the transfer's object until it exists and write it to ``local``.

    :return: None; the job's failure if it ended without creating the object.
    """
    probe, gap = PROBE_FIRST, DOWNLOAD_POLL_FIRST
    next_poll = time.monotonic() + gap
    unknown_since: float | None = None
    while not await backend.fetch_object(transfer, local):
        now = time.monotonic()
        if now >= next_poll:
            state = await backend.transfer_job_state(transfer)
            if state.finished:
                if await backend.fetch_object(transfer, local):  # completed between the probe and the poll
                    return None
                return await backend.transfer_job_failure(transfer)
            unknown_since = _check_known(state, unknown_since, now, transfer)
            gap = min(gap * DOWNLOAD_POLL_GROWTH, DOWNLOAD_POLL_MAX)
            next_poll = now + gap
        await asyncio.sleep(min(probe, max(0.0, next_poll - now)))
        probe = min(probe * PROBE_GROWTH, PROBE_MAX)
    return None


def _check_known(
    state: JobState, unknown_since: float | None, now: float, transfer: StagedTransfer
) -> float | None:
    """When the job was first seen unknown to the scheduler (None if it is known).

    :raises FileNotFoundError: if it has been unknown for longer than :data:`JOB_UNKNOWN_LIMIT`.
    """
    if state.name is not None:
        return None
    if unknown_since is None:
        return now
    if now - unknown_since > JOB_UNKNOWN_LIMIT:
        raise FileNotFoundError(f'The scheduler does not know the transfer job {transfer.job.get("jobId")}')
    return unknown_since
