"""What this process knows about the jobs it submitted or saw: for the process, not for one scheduler.

The engine makes a new scheduler for every task, so what a poll learns is kept here: when this process
submitted a job (a job just submitted cannot have finished, and one the Slurm database does not know yet
is not lost), the fields of its own record, and its final records for the detailed job info; and the
working directories whose submission lost its answer (the server may have made the job all the same).
Those are also marked on disk, in the AiiDA configuration directory, so that another daemon worker of
the same profile (after a restart) adopts the job too; a mark is a local file, no request.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import posixpath
import threading
import time
import typing as t
from pathlib import Path

from .remote import Remote

LOGGER = logging.getLogger(__name__)

__all__ = (
    'LOST_SUBMISSIONS',
    'NOTES',
    'JobKey',
    'JobNotes',
    'LostSubmissions',
    'Note',
    'clear_job_notes',
    'directory_key',
    'job_key',
    'marks_directory',
    'seconds_since_submission',
)

JobKey = tuple[str, str, str]
"""(server URL, system, job id)."""


@dataclasses.dataclass
class Note:
    """What this process knows about one job."""

    submitted: float | None = None
    """Monotonic time of its submission by this process."""
    fields: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    """:func:`.job_records.own_fields` of the last own record seen."""
    final: list[dict[str, t.Any]] | None = None
    """The records of the poll that found it finished, until the detailed job info takes them."""


class JobNotes:
    """:class:`Note` per job, for the process: the engine makes a new scheduler for every task.

    At most ``capacity`` jobs are remembered, the least recently noted forgotten first.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._notes: collections.OrderedDict[JobKey, Note] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: JobKey) -> Note:
        """A copy of what is known about the job (an empty note for a job never noted)."""
        with self._lock:
            note = self._notes.get(key)
            return dataclasses.replace(note) if note is not None else Note()

    def update(self, key: JobKey, **changes: t.Any) -> None:
        with self._lock:
            note = self._notes.pop(key, None) or Note()
            self._notes[key] = dataclasses.replace(note, **changes)
            while len(self._notes) > self.capacity:
                self._notes.popitem(last=False)

    def take_final(self, key: JobKey) -> list[dict[str, t.Any]] | None:
        """The job's final records, forgotten once taken."""
        with self._lock:
            note = self._notes.get(key)
            if note is None or note.final is None:
                return None
            final, note.final = note.final, None
            return final

    def clear(self) -> None:
        with self._lock:
            self._notes.clear()


NOTES = JobNotes()


def clear_job_notes() -> None:
    """Forget what this process learnt about jobs (as a new process would start)."""
    NOTES.clear()
    LOST_SUBMISSIONS.clear()


def job_key(remote: Remote, job_id: str) -> JobKey:
    return (remote.config.url, remote.system, job_id)


def seconds_since_submission(key: JobKey) -> float | None:
    submitted = NOTES.get(key).submitted
    return None if submitted is None else time.monotonic() - submitted


#: A mark older than this is stale (its calculation was given up): it is removed, not taken.
MARK_LIFETIME = 7 * 24 * 3600.0


def marks_directory() -> Path:
    """Where a profile's processes mark lost submissions: ``<AiiDA config>/firecrest/lost-submissions``."""
    from aiida.manage.configuration.settings import AiiDAConfigDir

    return AiiDAConfigDir.get() / 'firecrest' / 'lost-submissions'


class LostSubmissions:
    """Working directories whose submission request lost its answer: the server may have made the job.

    Kept in memory and as a mark file per directory in ``marks()`` (:func:`marks_directory`), so that a
    process that did not send the lost request finds it too; a mark that cannot be written is only logged.
    """

    def __init__(self, marks: t.Callable[[], Path] = marks_directory) -> None:
        self._directories: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self.marks = marks

    def add(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._directories.add(key)
        try:
            mark = self._mark(key)
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.write_text('\n'.join(key) + '\n')
        except OSError as exc:
            LOGGER.debug('Could not mark the lost submission in %s: %s', key[2], exc)

    def take(self, key: tuple[str, str, str]) -> bool:
        """Whether ``key``'s submission lost its answer, in this process or another (forgotten once asked)."""
        with self._lock:
            found = key in self._directories
            self._directories.discard(key)
        try:
            mark = self._mark(key)
            age = time.time() - mark.stat().st_mtime
            mark.unlink()
        except OSError:
            return found
        return found or age < MARK_LIFETIME

    def clear(self) -> None:
        """Forget in this process (the marks stay, as for a new process)."""
        with self._lock:
            self._directories.clear()

    def _mark(self, key: tuple[str, str, str]) -> Path:
        return self.marks() / hashlib.sha256('\0'.join(key).encode()).hexdigest()


LOST_SUBMISSIONS = LostSubmissions()


def directory_key(remote: Remote, working_directory: str) -> tuple[str, str, str]:
    """(server URL, system, working directory), the directory normalised."""
    return (remote.config.url, remote.system, posixpath.normpath(working_directory))
