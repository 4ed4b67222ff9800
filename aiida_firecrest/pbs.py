"""AiiDA scheduler plugin ``firecrest.pbs``: OpenPBS / PBS Pro clusters behind FirecREST v2.

Everything but the PBS specifics is :class:`~aiida_firecrest.scheduler.FirecrestScheduler`'s (one
``POST`` per submission, one job-list request per poll, one ``DELETE`` per kill). The specifics:

* the submit script is core.pbspro's (its header builder is reused, not copied), with GPUs as
  ``ngpus`` in the ``select`` statement and exclusive nodes as ``place=excl``;
* FirecREST answers with the same record shape as for Slurm, filled from ``qstat -f -F json -x``:
  ``status.state`` is qstat's one-letter ``job_state`` (``Q``, ``H``, ``W``, ``R``, ``E``, ``F``...),
  ``status.exitCode`` is ``Exit_status`` (0 until the job has finished, and for a job deleted before
  it ran; 256 + N when signal N ended it; negative when PBS itself killed it: -29 over its walltime,
  -27 or -26 over its memory), ``stateReason``, ``tasks`` and ``time.end`` are always null;
* the job id is the part of PBS's id before the server name (``12`` for ``12.pbs-server``);
* a job id qstat does not know is a 500 with ``Unknown Job Id`` (not a 404 as on Slurm systems):
  the client layer turns it into ``FileNotFoundError`` as well.

Why a plugin of its own rather than a choice made from the system's description: AiiDA validates a
CalcJob's resources and writes its submit script on a scheduler instance that has no transport
(``computer.get_scheduler()`` in ``CalcJob`` validation and ``presubmit``), so the dialect must be
known from the plugin alone. The system's ``scheduler.type`` is then checked at submission.
"""

from __future__ import annotations

import copy
import re
import typing as t
from collections.abc import Iterable, Mapping

from aiida.engine.processes.exit_code import ExitCode
from aiida.schedulers.datastructures import JobInfo, JobState, JobTemplate
from aiida.schedulers.plugins.pbsbaseclasses import PbsJobResource
from aiida.schedulers.plugins.pbspro import PbsproScheduler

from .job_records import calcjob_exit_code, timestamp
from .resources import AcceleratorResources
from .scheduler import FirecrestScheduler

__all__ = (
    'FirecrestPbsJobResource',
    'FirecrestPbsScheduler',
    'job_info_from_pbs_record',
    'pbs_exit_status',
)

FINISHED = 'F'
"""qstat's ``job_state`` of a finished job (kept in the history, which ``qstat -x`` shows)."""

SIGNAL_OFFSET = 256
"""PBS reports a job ended by signal N with ``Exit_status`` 256 + N."""

KILLED_BY_PBS = {
    -24: 'PBS killed the job: it used more CPUs than it requested (ncpus burst)',
    -25: 'PBS killed the job: it used more CPUs than it requested (ncpus sum)',
    -26: 'PBS killed the job: it exceeded its virtual memory limit',
    -27: 'PBS killed the job: it exceeded its memory limit',
    -28: 'PBS killed the job: it exceeded its CPU time limit',
    -29: 'PBS killed the job: it exceeded its walltime',
}
"""PBS's own ``Exit_status`` values (``JOB_EXEC_KILL_*``) for a job it killed over a limit."""

_ERROR_EXITS = {
    -26: 'ERROR_SCHEDULER_OUT_OF_MEMORY',
    -27: 'ERROR_SCHEDULER_OUT_OF_MEMORY',
    -29: 'ERROR_SCHEDULER_OUT_OF_WALLTIME',
}

_ERROR_MESSAGES = (
    # What PBS's MoM writes to the job's stderr when it kills a job over a limit.
    (re.compile(r'PBS: job killed: walltime \d+ exceeded limit \d+'), 'ERROR_SCHEDULER_OUT_OF_WALLTIME'),
    (re.compile(r'PBS: job killed: v?mem \S+ exceeded limit'), 'ERROR_SCHEDULER_OUT_OF_MEMORY'),
)

_NO_NODES = 'None assigned'
"""FirecREST's ``nodes`` of a PBS job that has none yet (chosen to match Slurm records)."""


class FirecrestPbsJobResource(AcceleratorResources, PbsJobResource):
    """The resources of core.pbspro, plus ``num_gpus_per_machine`` and ``exclusive``.

    * ``num_gpus_per_machine`` (int >= 1): adds ``ngpus=N`` to the ``select`` statement;
    * ``exclusive`` (bool): ``True`` adds ``#PBS -l place=excl`` (no other job on the nodes).
    """

    _default_fields = (*PbsJobResource._default_fields, 'num_gpus_per_machine', 'exclusive')  # type: ignore[assignment]


class _PbsproHeader(PbsproScheduler):
    """core.pbspro's header builder, with ``ngpus`` in its ``select`` statement."""

    def __init__(self, gpus_per_machine: int | None) -> None:
        super().__init__()
        self._gpus_per_machine = gpus_per_machine

    def _get_resource_lines(
        self,
        num_machines: int,
        num_mpiprocs_per_machine: int | None,
        num_cores_per_machine: int | None,
        max_memory_kb: int | None,
        max_wallclock_seconds: int | None,
    ) -> list[str]:
        lines = super()._get_resource_lines(
            num_machines,
            num_mpiprocs_per_machine,
            num_cores_per_machine,
            max_memory_kb,
            max_wallclock_seconds,
        )
        if self._gpus_per_machine:
            lines[-1] += f':ngpus={self._gpus_per_machine}'  # core.pbspro writes `-l select=...` last
        return lines


# --- pure parsers of FirecREST's PBS job records -------------------------------------------------


def job_state_from_pbs_record(record: Mapping[str, t.Any]) -> JobState:
    """The AiiDA state of a PBS job record, mapped as core.pbspro maps qstat's ``job_state``.

    Held jobs (by a user, or waiting for a dependency) are ``QUEUED_HELD``; unknown states are
    ``UNDETERMINED``.
    """
    state = str((record.get('status') or {}).get('state') or '').upper()
    return PbsproScheduler._map_status.get(state, JobState.UNDETERMINED)


def _exit_fields(status: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Exit status, ending signal and PBS's reason, for a finished job only (FirecREST says 0 before)."""
    exit_status = status.get('exitCode')
    if status.get('state') != FINISHED or not isinstance(exit_status, int):
        return {}
    return {
        'exit_status': exit_status,
        'terminating_signal': exit_status - SIGNAL_OFFSET if exit_status > SIGNAL_OFFSET else None,
        'annotation': KILLED_BY_PBS.get(exit_status),
    }


def job_info_from_pbs_record(record: Mapping[str, t.Any]) -> JobInfo:
    """A ``JobInfo`` from one PBS record of ``GET /compute/{system}/jobs[/{id}]``.

    Fields the record does not have stay undefined: submission and finish times, and the exit status
    of a job that has not finished.
    """
    status = record.get('status') or {}
    times = record.get('time') or {}
    start = timestamp(times.get('start'))
    nodes = record.get('nodes')
    fields = {
        'job_substate': status.get('state'),
        'job_owner': record.get('user'),
        'account': record.get('account') or None,
        'title': record.get('name'),
        'queue_name': record.get('partition') or None,
        'num_machines': record.get('allocationNodes') or None,
        'allocated_machines_raw': None if nodes in (None, '', _NO_NODES) else nodes,
        'dispatch_time': start,
        'wallclock_time_seconds': times.get('elapsed') if start is not None else None,
        'requested_wallclock_time_seconds': times.get('limit'),
        **_exit_fields(status),
    }
    info = JobInfo()
    info.job_id = str(record['jobId'])
    info.job_state = job_state_from_pbs_record(record)
    info.update({key: value for key, value in fields.items() if value is not None})
    return info


def pbs_exit_status(records: Iterable[Mapping[str, t.Any]]) -> int | None:
    """``Exit_status`` of the first record if that job has finished, else None."""
    for record in records:
        status = record.get('status') or {}
        exit_status = status.get('exitCode')
        return exit_status if status.get('state') == FINISHED and isinstance(exit_status, int) else None
    return None


# --- the scheduler -------------------------------------------------------------------------------


class FirecrestPbsScheduler(FirecrestScheduler):
    """PBS through the FirecREST v2 API: core.pbspro's scripts, one job-list request per poll.

    Use it with the ``firecrest`` transport, on a system whose ``scheduler.type`` is ``pbs``. Job
    resources are core.pbspro's, plus ``num_gpus_per_machine`` and ``exclusive``.
    """

    _job_resource_class = FirecrestPbsJobResource  # type: ignore[assignment]
    scheduler_type = 'pbs'

    def _get_submit_script_header(self, job_tmpl: JobTemplate) -> str:
        """core.pbspro's header; ``ngpus`` in its select, ``place=excl`` before the custom commands.

        Everything goes before core.pbspro's closing ``cd "$PBS_O_WORKDIR"``: qsub reads no directive
        after the first command.
        """
        resource = job_tmpl.job_resource
        pbs_template = copy.copy(job_tmpl)
        exclusive = '#PBS -l place=excl' if resource.get('exclusive') else ''
        pbs_template.custom_scheduler_commands = '\n'.join(
            filter(None, [exclusive, job_tmpl.custom_scheduler_commands])
        )
        return _PbsproHeader(resource.get('num_gpus_per_machine'))._get_submit_script_header(pbs_template)

    @staticmethod
    def _job_info(record: Mapping[str, t.Any], known: Mapping[str, t.Any] | None = None) -> JobInfo:
        """The ``JobInfo`` of one of the system's job records (a PBS record, complete: ``known`` unused)."""
        return job_info_from_pbs_record(record)

    @staticmethod
    def _ending_exit_code(records: list[dict[str, t.Any]]) -> str | None:
        """Out-of-memory and over-walltime kills from the ``Exit_status`` of the first job record (-29:
        walltime, -27 and -26: memory)."""
        exit_status = pbs_exit_status(records)
        return _ERROR_EXITS.get(exit_status) if exit_status is not None else None

    @staticmethod
    def _stderr_exit_code(stdout: str | None, stderr: str | None) -> ExitCode | None:
        """Without an exit status in the record: the kill named by the message PBS writes to ``stderr``."""
        for pattern, exit_code_name in _ERROR_MESSAGES:
            if stderr and pattern.search(stderr):
                return calcjob_exit_code(exit_code_name)
        return None
