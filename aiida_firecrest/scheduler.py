"""AiiDA scheduler plugin for Slurm clusters behind FirecREST v2.

The submit script is core.slurm's (its header builder is reused, not copied), plus GPUs per node
and exclusive nodes. Everything else goes through FirecREST's compute endpoints, on the backend
(``remote``) of the (open) :class:`~aiida_firecrest.transport.FirecrestTransport`, through AiiDA's
blocking bridge (plumpy's greenback portal) so that the engine's event loop never blocks:

* ``submit_job``: one ``POST /compute/{system}/jobs`` naming the script the engine uploaded;
* ``get_jobs``: one ``GET /compute/{system}/jobs`` per poll cycle, plus one
  ``GET /compute/{system}/jobs/{id}`` only for a requested job missing from that list; none at all
  while every requested job was submitted by this process a moment ago (it cannot have finished);
* ``kill_job``: one ``DELETE /compute/{system}/jobs/{id}``;
* ``get_detailed_job_info``: the job's record as JSON, which ``parse_output`` reads to turn
  out-of-memory, time-limit and node-failure endings into AiiDA's exit codes, as core.slurm does
  with ``sacct``: the final record the last poll saw, or else ``GET /compute/{system}/jobs/{id}``.

What a poll learns about a job is kept for the process (:mod:`.job_notes`: the engine makes a
scheduler per task): when it was submitted, the name, partition and time limit of its own record (which
the placeholder record Slurm shows around a quick job's completion lacks), and its final record.

The pure parts (record -> ``JobInfo``, record -> ending) are :mod:`.job_records`, tested with the
recorded job records of a real server; the resources are :mod:`.resources`. PBS systems have their own
plugin built on this one, :mod:`aiida_firecrest.pbs` (``firecrest.pbs``); each plugin refuses to submit to
the other's systems.
"""

from __future__ import annotations

import asyncio
import copy
import json
import posixpath
import time
import typing as t
from collections.abc import Awaitable, Callable, Mapping

from aiida.engine.processes.exit_code import ExitCode
from aiida.schedulers import Scheduler, SchedulerError
from aiida.schedulers.datastructures import JobInfo, JobState, JobTemplate
from aiida.schedulers.plugins.slurm import SlurmScheduler
from plumpy import run_until_complete

from .capabilities import scheduler_mismatch
from .concurrency import gather_bounded
from .job_notes import LOST_SUBMISSIONS, NOTES, directory_key, job_key, seconds_since_submission
from .job_records import (
    ERROR_ENDINGS,
    calcjob_exit_code,
    job_ending,
    job_info_from_record,
    latest_records,
    own_fields,
    queued,
    records_from_detailed_info,
)
from .remote import Remote
from .resources import FirecrestJobResource

__all__ = ('FirecrestScheduler',)

_T = t.TypeVar('_T')

MAX_CONCURRENT_LOOKUPS = 8
"""At most this many individual job requests at a time, for jobs missing from a poll's job list."""

_UNREADABLE_SCRIPT = 'Unable to open file'
"""sbatch's error when it cannot read the script it is given by path (recording 50)."""


class _ClientTransport(t.Protocol):
    """What the scheduler needs from its transport: the FirecREST backend and the blocking bridge."""

    @property
    def remote(self) -> Remote: ...

    def run_command_blocking(
        self, func: Callable[..., Awaitable[_T]], *args: t.Any, **kwargs: t.Any
    ) -> _T: ...


class FirecrestScheduler(Scheduler):
    """Slurm through the FirecREST v2 API: core.slurm's scripts, one job-list request per poll.

    Use it with the ``firecrest`` transport. Job resources are core.slurm's, plus
    ``num_gpus_per_machine`` and ``exclusive``.
    """

    _logger = Scheduler._logger.getChild('firecrest')
    _features = {'can_query_by_user': False}
    _job_resource_class = FirecrestJobResource

    scheduler_type: t.ClassVar[str] = 'slurm'
    """The ``scheduler.type`` of the systems this plugin writes scripts for and reads the job records of."""

    not_found_grace_seconds: t.ClassVar[float] = 60.0
    """For this long after this process submitted a job, the server not knowing it (the Slurm
    database can lag) makes the job ``QUEUED`` rather than finished."""

    just_submitted_seconds: t.ClassVar[float] = 1.0
    """For this long after this process submitted a job, a poll of it alone (or of such jobs only)
    reports it ``QUEUED`` without a request: it cannot have finished yet (the recorded server kept
    every job ``PENDING`` for 0.6 s at least). The engine polls right after each submission."""

    # --- submit script ---

    def _get_submit_script_header(self, job_tmpl: JobTemplate) -> str:
        """core.slurm's header, then ``--gpus-per-node`` / ``--exclusive``, then the custom commands."""
        slurm_template = copy.copy(job_tmpl)
        slurm_template.custom_scheduler_commands = ''
        lines = [SlurmScheduler()._get_submit_script_header(slurm_template)]
        resource = job_tmpl.job_resource
        if resource.get('num_gpus_per_machine'):
            lines.append(f'#SBATCH --gpus-per-node={resource["num_gpus_per_machine"]}')
        if resource.get('exclusive'):
            lines.append('#SBATCH --exclusive')
        if job_tmpl.custom_scheduler_commands:
            lines.append(job_tmpl.custom_scheduler_commands)
        return '\n'.join(lines)

    # --- the blocking bridge ---

    def _bridge(self) -> _ClientTransport:
        transport = self.transport
        if not hasattr(transport, 'remote') or not hasattr(transport, 'run_command_blocking'):
            raise SchedulerError(f'The firecrest scheduler needs the firecrest transport, not {transport}.')
        return t.cast(_ClientTransport, transport)

    def _run(self, func: Callable[..., Awaitable[_T]], *args: t.Any) -> _T:
        """Run ``func(remote, *args)`` to completion from this synchronous method, without blocking the loop.

        Called by the engine (from a coroutine), it is awaited on the event loop that is running, the
        one the transport's client was opened on, through plumpy's greenback bridge. AiiDA's
        ``transport.run_command_blocking`` would pick the global runner's loop instead, which is
        another loop whenever ``aiida.engine.run`` runs the process in a local runner (aiida-core 2.9).
        Called with no loop running (``verdi computer test``, scripts), it uses the transport's bridge.
        """
        bridge = self._bridge()
        try:
            running_loop = asyncio.get_running_loop()
        except RuntimeError:
            return bridge.run_command_blocking(func, bridge.remote, *args)
        return run_until_complete(running_loop, func(bridge.remote, *args))

    # --- submit ---

    def submit_job(self, working_directory: str, filename: str) -> str | ExitCode:
        """Submit the script ``filename`` that the engine uploaded to ``working_directory``.

        One ``POST /compute/{system}/jobs``; the server runs ``sbatch`` on the script in place. Should
        ``sbatch`` be unable to open it there, the script is read (``ops/view``) and sent inline.

        :return: the job id, or ``ERROR_SCHEDULER_INVALID_ACCOUNT`` if Slurm refuses the account.
        :raises SchedulerError: with the server's message if the submission is rejected otherwise.
        """
        try:
            job_id = self._run(self._submit, working_directory, filename)
        except OSError as exc:
            return self._submission_error(exc)
        self.logger.info(f'submitted {filename} in {working_directory} as job {job_id}')
        return job_id

    async def _submit(self, remote: Remote, working_directory: str, filename: str) -> str:
        """Submit, unless an earlier submission from this directory lost its answer and made the job.

        A submission is never repeated by the HTTP layer (it is not idempotent); when its answer is lost
        (the connection broke off), the engine submits again, and the job the server may have made then
        is adopted instead of submitting a second one (one job-list request, only in that case).
        """
        self._check_scheduler_type(remote.known_system_info())
        directory = directory_key(remote, working_directory)
        job_id = await self._lost_job(remote, working_directory) if LOST_SUBMISSIONS.take(directory) else None
        if job_id is None:
            try:
                job_id = await self._submit_script(remote, working_directory, filename)
            except ConnectionError:
                LOST_SUBMISSIONS.add(directory)
                raise
        NOTES.update(job_key(remote, job_id), submitted=time.monotonic())
        return job_id

    async def _submit_script(self, remote: Remote, working_directory: str, filename: str) -> str:
        script = posixpath.join(working_directory, filename)
        try:
            return await remote.submit(working_directory, script_path=script)
        except OSError as exc:
            if _UNREADABLE_SCRIPT not in str(exc):
                raise
            return await remote.submit(working_directory, script=await self._read(remote, script))

    async def _lost_job(self, remote: Remote, working_directory: str) -> str | None:
        """The job the server made from ``working_directory`` when a submission's answer was lost, if any."""
        wanted = posixpath.normpath(working_directory)
        found = [
            str(record['jobId'])
            for record in await remote.jobs()
            if posixpath.normpath(str(record.get('workingDirectory') or '/')) == wanted
            and NOTES.get(job_key(remote, str(record['jobId']))).submitted is None
        ]
        if not found:
            return None
        self.logger.warning(
            f'the answer to an earlier submission in {working_directory} was lost; job {found[-1]}, '
            'which the server made from it, is kept instead of submitting again'
        )
        return found[-1]

    def _check_scheduler_type(self, system: Mapping[str, t.Any] | None) -> None:
        """Refuse a system whose scheduler would ignore this plugin's directives.

        Submission checks only a description this process already has (no request: a CalcJob's budget
        has no room for it); ``verdi computer configure`` warns and ``verdi computer test`` fails on a
        mismatch, asking for the description (see :meth:`get_jobs`).

        :raises SchedulerError: naming the plugin to set the computer up with instead.
        """
        problem = None if system is None else scheduler_mismatch(system, self.scheduler_type)
        if problem is not None:
            raise SchedulerError(problem)

    async def _read(self, remote: Remote, script: str) -> str:
        """The script's content, for a server whose ``sbatch`` cannot open a script by its path."""
        self.logger.warning(f'FirecREST cannot submit {script} by its path; submitting its content instead')
        return await remote.view(script)

    def _submission_error(self, exc: OSError) -> ExitCode:
        message = str(exc)
        if 'Invalid account' in message:
            self.logger.error(f'job submission refused: {message}')
            return calcjob_exit_code('ERROR_SCHEDULER_INVALID_ACCOUNT')
        raise SchedulerError(f'Job submission through FirecREST failed: {message}') from exc

    # --- poll ---

    @t.overload
    def get_jobs(
        self, jobs: list[str] | None = None, user: str | None = None, as_dict: t.Literal[False] = False
    ) -> list[JobInfo]: ...

    @t.overload
    def get_jobs(
        self, jobs: list[str] | None = None, user: str | None = None, as_dict: t.Literal[True] = ...
    ) -> dict[str, JobInfo]: ...

    def get_jobs(
        self, jobs: list[str] | None = None, user: str | None = None, as_dict: bool = False
    ) -> list[JobInfo] | dict[str, JobInfo]:
        """The state of ``jobs`` (all of the user's recent jobs if None), in one list request.

        A requested job missing from the list is asked for individually: one that ended before the
        list's time window (FirecREST 2.5.7+ lists the jobs that ended in the last 24 h, older
        servers 7 days; pending and running jobs always), for example while the daemon was stopped.
        No ``time_window`` is sent: the answers are the same whatever the window, since a job is
        found by its id however old; a wider one would make every poll heavier for a rare case,
        and servers before 2.5.7 do not know it. If asking for a missing job fails, so does the
        poll. A job the server does not know is left out (AiiDA then takes it as finished), unless
        this process submitted it less than ``not_found_grace_seconds`` ago: such a job missing from
        the list (the Slurm database lags) is ``QUEUED`` without asking for it, as is one submitted
        less than ``just_submitted_seconds`` ago even without the list.

        Asked for all jobs (as ``verdi computer test`` does, never the engine), it first checks that the
        system runs this plugin's scheduler (one more request, once per process).

        :param user: not supported (FirecREST lists the authenticated user's jobs).
        :raises SchedulerError: for a system of the other scheduler type, naming the plugin to use.
        """
        if user is not None:
            raise SchedulerError('The firecrest scheduler lists the jobs of the authenticated user only.')
        wanted = None if jobs is None else [str(job_id) for job_id in jobs]
        infos = self._run(self._poll, wanted)
        return {info.job_id: info for info in infos} if as_dict else infos

    async def _poll(self, remote: Remote, wanted: list[str] | None) -> list[JobInfo]:
        if wanted is None:
            self._check_scheduler_type(await remote.system_info())
        just_now = self.just_submitted_seconds
        if wanted and all(self._submitted_within(remote, job_id, just_now) for job_id in wanted):
            return [queued(job_id, 'just submitted') for job_id in dict.fromkeys(wanted)]
        records = latest_records(await remote.jobs())
        if wanted is None:
            return [
                self._job_info(record, known=NOTES.get(job_key(remote, job_id)).fields)
                for job_id, record in records.items()
            ]
        grace = self.not_found_grace_seconds
        missing = [
            job_id
            for job_id in wanted
            if job_id not in records and not self._submitted_within(remote, job_id, grace)
        ]
        lookups = (self._fetch_one(remote, job_id) for job_id in missing)
        found = await gather_bounded(lookups, MAX_CONCURRENT_LOOKUPS)
        for job_id, record in zip(missing, found, strict=True):
            if record is not None:
                records[job_id] = record
        infos = (self._info_or_grace(remote, job_id, records.get(job_id)) for job_id in dict.fromkeys(wanted))
        return [info for info in infos if info is not None]

    @staticmethod
    def _submitted_within(remote: Remote, job_id: str, seconds: float) -> bool:
        """Whether this process submitted the job less than ``seconds`` ago."""
        age = seconds_since_submission(job_key(remote, job_id))
        return age is not None and age < seconds

    @staticmethod
    async def _fetch_one(remote: Remote, job_id: str) -> dict[str, t.Any] | None:
        try:
            answer = await remote.job(job_id)
        except FileNotFoundError:
            return None
        return latest_records(answer).get(job_id)

    def _info_or_grace(
        self, remote: Remote, job_id: str, record: Mapping[str, t.Any] | None
    ) -> JobInfo | None:
        if record is not None:
            return self._noted_info(remote, job_id, record)
        if not self._submitted_within(remote, job_id, self.not_found_grace_seconds):
            return None
        return queued(job_id, 'submitted, not yet known to the scheduler')

    def _noted_info(self, remote: Remote, job_id: str, record: Mapping[str, t.Any]) -> JobInfo:
        """The record's ``JobInfo``, completed with what earlier polls saw; notes what this one shows.

        A finished job's record is kept for :meth:`get_detailed_job_info`.
        """
        key = job_key(remote, job_id)
        fields = own_fields(record)
        if fields:
            NOTES.update(key, fields=fields)
        info = self._job_info(record, known=NOTES.get(key).fields)
        if info.job_state is JobState.DONE:
            NOTES.update(key, final=[dict(record)])
        return info

    @staticmethod
    def _job_info(record: Mapping[str, t.Any], known: Mapping[str, t.Any] | None = None) -> JobInfo:
        """The ``JobInfo`` of one of the system's job records (a Slurm record here).

        :param known: what earlier polls saw of the job (for the fields a placeholder record lacks).
        """
        return job_info_from_record(record, known=known)

    # --- kill ---

    def kill_job(self, jobid: str) -> bool:
        """Cancel the job with one ``DELETE /compute/{system}/jobs/{id}``.

        :return: True if the server accepted it; False if it refused (for example because the job
            has already finished: the engine then checks its state).
        """
        try:
            self._run(self._cancel, str(jobid))
        except OSError as exc:
            self.logger.warning(f'FirecREST refused to cancel job {jobid}: {exc}')
            return False
        self.logger.info(f'cancelled job {jobid}')
        return True

    @staticmethod
    async def _cancel(remote: Remote, job_id: str) -> None:
        await remote.cancel(job_id)

    # --- accounting ---

    def can_get_detailed_job_info(self) -> bool:
        """Always: the job record is the detailed job info."""
        return True

    def get_detailed_job_info(self, job_id: str) -> dict[str, str | int]:
        """The job's FirecREST record(s) as JSON in ``stdout``, with ``retval`` 0.

        The final record that a poll of this process saw (the engine asks right after the poll that
        found the job finished); otherwise one ``GET /compute/{system}/jobs/{id}``. If the server
        cannot give it, ``retval`` is 1 and ``stderr`` holds the reason (the engine then skips
        scheduler output parsing instead of failing the job).
        """
        try:
            records = self._run(self._records_of, str(job_id))
        except OSError as exc:
            return {'retval': 1, 'stdout': '', 'stderr': str(exc)}
        return {'retval': 0, 'stdout': json.dumps(records, indent=1, sort_keys=True), 'stderr': ''}

    @staticmethod
    async def _records_of(remote: Remote, job_id: str) -> list[dict[str, t.Any]]:
        final = NOTES.take_final(job_key(remote, job_id))
        if final is not None:
            return final
        return await remote.job(job_id)

    def parse_output(
        self,
        detailed_job_info: dict[str, str | int] | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
    ) -> ExitCode | None:
        """Out-of-memory, time-limit and node-failure endings as AiiDA's scheduler exit codes.

        The ending comes from the job record in ``detailed_job_info``; without one, the scheduler's
        ``stderr`` is matched against Slurm's messages exactly as core.slurm does.

        :raises ValueError: if ``detailed_job_info`` has no ``stdout`` or it is not the JSON of records.
        """
        if detailed_job_info is not None and detailed_job_info.get('retval', 0) == 0:
            exit_code_name = self._ending_exit_code(records_from_detailed_info(detailed_job_info))
            if exit_code_name is not None:
                return calcjob_exit_code(exit_code_name)
        return self._stderr_exit_code(stdout, stderr)

    @staticmethod
    def _ending_exit_code(records: list[dict[str, t.Any]]) -> str | None:
        """The name of CalcJob's exit code for the ending the job records show, if it has one (Slurm's)."""
        return ERROR_ENDINGS.get(job_ending(records) or '')

    @staticmethod
    def _stderr_exit_code(stdout: str | None, stderr: str | None) -> ExitCode | None:
        """The exit code for the scheduler's messages in the job's output, matched as core.slurm does."""
        return SlurmScheduler().parse_output(None, stdout, stderr)
