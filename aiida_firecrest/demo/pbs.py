"""The demo server's PBS system (``DemoSettings.scheduler == 'pbs'``): OpenPBS as FirecREST drives it.

A real FirecREST v2 (2.5.x, OpenPBS 23.06) submits with ``cd WORKDIR && qsub -v ENV [-N name]
[-q queue] [-P account] [-e err] [-o out] [-- PATH]`` (the script on stdin unless given by path),
reads jobs with ``qstat -f -F json -x`` and cancels with ``qdel``; its errors are a 500 with the
command's stderr. Jobs run on :class:`.pbs_jobs.PbsJobRunner`, the local job runner (processes,
cancellation, time limit) with this module's reading of ``#PBS`` directives (as qsub reads them),
records (as FirecREST's ``PbsJob`` model renders qstat's output) and errors; the system's
description is :mod:`.status`'s, with this module's scheduler, health message and queues:

* ``#PBS`` lines up to the first command; ``-N``, ``-o``, ``-e``, ``-j oe|eo``, ``-q``, ``-P``,
  ``-h``, ``-l walltime=``, ``-W depend=after[ok|notok|any]:ID[:ID...]``; other options and
  resources are accepted and ignored (every job runs on this one node). The request's fields win.
* The job starts in the user's home directory, as PBS starts it (scripts ``cd "$PBS_O_WORKDIR"``),
  with ``PBS_JOBID=<id>.<server>``, ``PBS_O_WORKDIR``, ``PBS_JOBNAME``, ``PBS_NODEFILE``...
  Output goes to ``<name>.o<id>`` / ``<name>.e<id>`` in the submission directory by default.
* Records: ``status.state`` Q (queued), H (held: ``-h``, or waiting for its dependencies), R, F;
  ``status.exitCode`` is ``Exit_status``, 0 until the job has finished (and for a job deleted before
  it ran): the script's exit code, 256 + N if signal N ended it (qdel: 271), -29 if PBS killed it
  over its walltime (then ``=>> PBS: job killed: walltime ...`` ends its stderr). ``stateReason``,
  ``tasks``, ``time.end`` and ``group`` are null; the project is ``_pbs_project_default`` without ``-P``.
* Errors: ``Unknown Job Id`` (qstat, qdel: exit status 153), ``Job has finished`` (qdel: 35),
  ``Unknown queue`` (qsub: 170), a missing working directory (the shell's ``cd``: 1).

Deviations kept on purpose: the walltime is enforced to the second, a job never shows the short
``E`` (exiting) state, and a dependency that can never be met leaves the job held (PBS deletes it).
"""

from __future__ import annotations

import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FirecrestHTTPError, RemoteCommandError

if TYPE_CHECKING:
    from .job_model import Job

VERSION = '23.06.06'
"""The OpenPBS version FirecREST's own PBS cluster runs."""
QUEUES = ('workq',)
"""The queues of the demo's PBS server (OpenPBS creates ``workq`` at installation)."""
DEFAULT_QUEUE = 'workq'
DEFAULT_PROJECT = '_pbs_project_default'
"""PBS's ``project`` of a job submitted without ``-P``."""
DEFAULT_ENV = {'F7T_version': 'v2.0.0'}
"""What FirecREST passes to ``qsub -v`` when a submission names no environment."""
TRANSFER_DIRECTIVES = ['#PBS -l nodes=1:ppn=1', '#PBS -l walltime=00:15:00', '#PBS -V']
"""``dataOperation.datatransfer_jobs_directives`` of FirecREST's PBS demo system."""

FLAGS = frozenset('hVIXfz')
"""qsub options that take no value."""
SIGNAL_EXIT_OFFSET = 256
WALLTIME_KILLED = -29
"""``Exit_status`` of a job PBS killed over its walltime (``JOB_EXEC_KILL_WALLTIME``)."""
UNKNOWN_JOB_EXIT = 153
"""qstat's and qdel's exit status for an unknown job id (PBSE_UNKJOBID, 15001, modulo 256)."""
FINISHED_JOB_EXIT = 35
"""qdel's exit status for a job that is only in the history (PBSE_HISTJOBID, 15139, modulo 256)."""
UNKNOWN_QUEUE_EXIT = 170
"""qsub's exit status for an unknown queue (PBSE_UNKQUE, 15018, modulo 256)."""
ATTACH_UNSUPPORTED = "('Interactive attach is not supported in PBS CLI client',)"
"""The real server's message for ``attach`` on a PBS system (its ``NotImplementedError``'s args)."""


class PbsError(RemoteCommandError):
    """A PBS command failed: FirecREST answers 500 with its stderr, in each command's wording."""

    def __init__(self, command: str, stderr: str, exit_status: int = 1) -> None:
        super().__init__(stderr, exit_status)
        self.command = command

    def http_error(self, user: str) -> FirecrestHTTPError:
        status = f'exit_status:{self.exit_status} std_err:{self.stderr}'
        if self.command == 'qsub':
            message = f'Unexpected PBS command response. {status} stdout:'
        else:
            message = f'Unexpected PBS {self.command} response. {status}'
        return FirecrestHTTPError(500, message, user=user)


class AttachUnsupportedError(RemoteCommandError):
    """``attach`` on a PBS system: the real server's PBS client does not implement it (500)."""

    def __init__(self) -> None:
        super().__init__('', 1)

    def http_error(self, user: str) -> FirecrestHTTPError:
        return FirecrestHTTPError(500, ATTACH_UNSUPPORTED, user=user)


# --- the status of the system ---------------------------------------------------------------------


def scheduler_description(timeout: int) -> dict[str, Any]:
    """The ``scheduler`` of the system in ``GET /status/systems``."""
    return {
        'type': 'pbs',
        'connectionMode': 'ssh',
        'version': VERSION,
        'apiUrl': None,
        'apiVersion': None,
        'timeout': timeout,
    }


def ping_message(server: str) -> str:
    """The scheduler health message (``qstat -B`` as the real server renders it)."""
    return str([{'hostname': server, 'pinged': 'UP'}])


def partitions() -> list[dict[str, Any]]:
    """``GET /status/{system}/partitions``: the queues, as ``qstat -Q`` gives them (no CPU counts)."""
    return [{'name': name, 'cpus': None, 'totalNodes': None, 'partition': 'UP'} for name in QUEUES]


# --- reading a script as qsub does ----------------------------------------------------------------


def _tokens_options(tokens: list[str]) -> list[tuple[str, str]]:
    options: list[tuple[str, str]] = []
    while tokens:
        token = tokens.pop(0)
        if not token.startswith('-') or len(token) < 2:
            continue
        letter, value = token[1], token[2:]
        if letter in FLAGS:
            options.append((letter, ''))
        elif value or tokens:
            options.append((letter, value or tokens.pop(0)))
    return options


def parse_pbs_directives(script: str) -> list[tuple[str, str]]:
    """A script's ``#PBS`` options as (letter, value), read as qsub reads them: up to the first command."""
    options: list[tuple[str, str]] = []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith('#PBS'):
            options.extend(_tokens_options(shlex.split(stripped[len('#PBS') :], comments=True)))
        elif stripped and not stripped.startswith('#'):
            break
    return options


def parse_walltime(text: str) -> int:
    """Seconds from a PBS walltime, ``[[hours:]minutes:]seconds[.fraction]``."""
    try:
        parts = [float(part) for part in text.strip().split(':')]
        if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts):
            raise ValueError(text)
    except ValueError:
        raise PbsError(
            'qsub', 'qsub: Illegal attribute or resource value Resource_List.walltime\n', 2
        ) from None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return int(seconds)


def parse_pbs_dependencies(text: str) -> list[tuple[str, int]]:
    """``afterok:12.pbs:13,afterany:14`` as [('afterok', 12), ('afterok', 13), ('afterany', 14)]."""
    dependencies: list[tuple[str, int]] = []
    try:
        for clause in filter(None, text.split(',')):
            kind, *ids = clause.split(':')
            if kind not in ('afterok', 'afternotok', 'afterany') or not ids:
                raise ValueError(clause)
            dependencies.extend((kind, int(job_id.split('.')[0])) for job_id in ids)
    except ValueError:
        raise PbsError('qsub', 'qsub: illegal -W value\n', 2) from None
    return dependencies


def resource_list(values: list[str]) -> dict[str, str]:
    """``-l`` values (``walltime=1:00,select=1:ncpus=2``) as {resource: value}."""
    resources: dict[str, str] = {}
    for value in values:
        for item in filter(None, value.split(',')):
            name, _, setting = item.partition('=')
            resources[name] = setting
    return resources


def output_pattern(path: str) -> str:
    """A ``-o``/``-e`` path (``[host:]path``) as a pattern of :func:`.slurm.expand_output_path`."""
    return path.split(':', 1)[1] if ':' in path else path


def escaped(text: str) -> str:
    """``text`` with its ``%`` kept literal by :func:`.slurm.expand_output_path`."""
    return text.replace('%', '%%')


# --- records -------------------------------------------------------------------------------------


def pbs_state(job: Job) -> str:
    """qstat's ``job_state``: F once finished, R running, H held or waiting for dependencies, else Q."""
    if job.finished:
        return 'F'
    if job.state == 'RUNNING':
        return 'R'
    return 'H' if job.reason in ('JobHeldUser', 'Dependency') else 'Q'


def exit_status(job: Job) -> int:
    """``Exit_status`` as FirecREST reports it: 0 where PBS sets none (not finished, or never ran)."""
    if not job.finished or job.start is None:
        return 0
    if job.state == 'TIMEOUT':
        return WALLTIME_KILLED
    if job.state.startswith('CANCELLED'):
        return SIGNAL_EXIT_OFFSET + int(signal.SIGTERM)
    if job.signal:
        return SIGNAL_EXIT_OFFSET + job.signal
    return job.exit_code or 0


def read_script(path: str) -> str:
    """The script ``qsub -- PATH`` submits."""
    try:
        return Path(path).read_text()
    except OSError:
        raise PbsError('qsub', 'qsub: script file:: No such file or directory\n') from None
