"""The demo server's job runner: a local stand-in for Slurm, with Slurm's states and job records.

Compute submissions and FirecREST's own transfer jobs (cp, mv, rm, compress, extract, S3 staging)
are all jobs here, as they are on the real server. A job is a bash script run in the background
in its working directory, in its own process group (so cancelling kills everything it started),
or, for the S3 staging jobs, a coroutine of the server. Its life follows Slurm:
``PENDING`` (reason ``Priority``; ``JobHeldUser`` for ``--hold``, forever; ``Dependency``) ->
``RUNNING`` -> ``COMPLETED`` / ``FAILED`` (``exitCode``) / ``CANCELLED by <uid>`` / ``TIMEOUT``.
Records have the shape of the real server's ``GET /compute/{system}/jobs/{id}`` (exchanges 40-54),
including, for a while after a job that ran under a second ended, the placeholder record that
Slurm's accounting shows for it (exchanges 60, 63, 65, 69-72).

Deviation kept on purpose: ``--time`` is honoured to the second (Slurm rounds up to minutes),
so that tests can watch a job time out quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import time
from pathlib import Path
from typing import IO, Any

from .access import file_system_root
from .errors import CommandTimeoutError, FirecrestHTTPError
from .job_model import FINISHED_OK, Job, JobRequest, JobSpec, Step
from .settings import DemoSettings
from .slurm import (
    BASE_PRIORITY,
    CLUSTER,
    DEFAULT_PARTITION,
    DEFAULT_TIME_LIMIT,
    PARTITIONS,
    PLACEHOLDER,
    SlurmError,
    expand_output_path,
    parse_dependencies,
    parse_directives,
    parse_time_limit,
    read_script,
    status_record,
    task_record,
    time_record,
)

PENDING_SECONDS = 0.3
"""How long every job stays PENDING (reason ``Priority``) before it may start."""
POLL_SECONDS = 0.1
"""How often a job waiting for its dependencies looks at them."""
KILL_GRACE_SECONDS = 2.0
"""Between SIGTERM and SIGKILL when a job is cancelled or times out (Slurm's KillWait)."""
LAUNCH_FAILED_SIGNAL = 53
"""What the recorded Slurm reports when a job cannot start (missing or foreign working directory)."""
QUICK_RUN_SECONDS = 1.0
"""A job that ran shorter than this shows the placeholder record after it ended (recorded: 0 s runs)."""


class JobRunner:
    """All jobs of one demo server, for the server's lifetime."""

    def __init__(self, settings: DemoSettings) -> None:
        self._settings = settings
        self._jobs: dict[int, Job] = {}
        self._next_id = 1
        self.hostname = socket.gethostname()
        self._spool = settings.root / 'spool'

    @property
    def settings(self) -> DemoSettings:
        return self._settings

    # --- submission -------------------------------------------------------------------------

    async def submit(self, request: JobRequest) -> Job:
        """Submit a compute job as sbatch would; raises :class:`SlurmError` where sbatch fails.

        With neither ``script`` nor ``script_path`` sbatch waits for a script on stdin until the
        command timeout: :class:`CommandTimeoutError`.
        """
        if request.script is not None:
            script = request.script
        elif request.script_path is not None:
            script = read_script(request.script_path)
        else:
            await asyncio.sleep(self.settings.command_timeout)
            raise CommandTimeoutError
        return self.start(self._spec(request, script))

    def _spec(self, request: JobRequest, script: str) -> JobSpec:
        options = parse_directives(script)
        overrides = {
            'job-name': request.name,
            'partition': request.partition,
            'input': request.standard_input,
            'output': request.standard_output,
            'error': request.standard_error,
        }
        options.update({key: value for key, value in overrides.items() if value is not None})
        partition = options.get('partition', DEFAULT_PARTITION)
        if partition not in PARTITIONS:
            raise SlurmError(
                f'sbatch: error: invalid partition specified: {partition}\n'
                'sbatch: error: Batch job submission failed: Invalid partition name specified\n'
            )
        default_name = Path(request.script_path).name if request.script_path else 'sbatch'
        limit = parse_time_limit(options['time']) if 'time' in options else DEFAULT_TIME_LIMIT
        return JobSpec(
            name=options.get('job-name', default_name),
            script=script,
            working_directory=request.working_directory,
            # The recorded Slurm does not enforce associations: any account is accepted and the
            # job is accounted to the user's default one (exchanges 49 and 51).
            account=self.settings.account,
            partition=partition,
            time_limit=limit,
            standard_output=options.get('output', 'slurm-%j.out'),
            standard_error=options.get('error', options.get('output', 'slurm-%j.out')),
            standard_input=options.get('input', '/dev/null'),
            env=dict(request.env),
            hold='hold' in options,
            dependencies=parse_dependencies(options.get('dependency', '')),
        )

    def start(self, spec: JobSpec) -> Job:
        """Queue a job; output paths get their ``%j`` and the like expanded now."""
        job_id, self._next_id = self._next_id, self._next_id + 1
        user = self.settings.username
        for field in ('standard_output', 'standard_error', 'standard_input'):
            pattern = getattr(spec, field)
            setattr(spec, field, expand_output_path(pattern, job_id, spec.name, user, spec.working_directory))
        job = Job(id=job_id, spec=spec, submitted=time.time())
        if spec.hold:
            job.reason = 'JobHeldUser'
        elif spec.dependencies:
            job.reason = 'Dependency'
        self._jobs[job_id] = job
        if not spec.hold:
            job.task = asyncio.get_running_loop().create_task(self._lifecycle(job))
        return job

    # --- queries ----------------------------------------------------------------------------

    def _visible(self, job: Job) -> bool:
        """False while the job is younger than the ``job_not_found_for`` switch (Slurm database lag)."""
        return time.time() - job.submitted >= self.settings.job_not_found_for

    def find(self, job_id: str) -> Job | None:
        """The job with this id, if it exists and is visible."""
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        return job if job is not None and self._visible(job) else None

    def not_found_error(self, job_id: str, user: str) -> FirecrestHTTPError:
        """The real server's answer for a job it cannot find: 500 from sacct for a malformed id, else 404."""
        if not job_id.isdigit():
            stderr = f'sacct: fatal: Bad job/step specified: {job_id}\n'
            cause = f'Unexpected Slurm command response. exit_status:1 std_err:{stderr}'
            return FirecrestHTTPError(500, 'Error executing Slurm command.', caused_by=[cause], user=user)
        return FirecrestHTTPError(404, 'Job not found.', user=user)

    def jobs(
        self, name: str | None = None, account: str | None = None, history: float | None = None
    ) -> list[Job]:
        """All visible jobs, oldest first, optionally only those with this name and account.

        :param history: seconds; if given, only the jobs that had not ended that long ago (as sacct's
            ``--starttime=now-...`` selects them): pending and running jobs are always listed.
        """
        return [
            job
            for job in self._jobs.values()
            if self._visible(job)
            and (name is None or job.spec.name == name)
            and (account is None or job.spec.account == account)
            and (history is None or not self._ended_before(job, time.time() - history))
        ]

    def _ended_before(self, job: Job, moment: float) -> bool:
        """Whether the job ended before ``moment``, its age pushed back by the ``job_age_offset`` switch."""
        return job.end is not None and job.end - self.settings.job_age_offset < moment

    # --- running ----------------------------------------------------------------------------

    async def _lifecycle(self, job: Job) -> None:
        await asyncio.sleep(PENDING_SECONDS)
        if job.reason == 'Priority':
            job.reason = 'None'
        while not self._dependencies_met(job):
            await asyncio.sleep(POLL_SECONDS)
        job.reason = 'None'
        if not self._can_start(job):
            job.start = job.end = time.time()
            job.finish('FAILED', 0, LAUNCH_FAILED_SIGNAL, ('CANCELLED', 0, LAUNCH_FAILED_SIGNAL))
            return
        job.run(time.time())
        try:
            returncode = await asyncio.wait_for(self._execute(job), job.spec.time_limit)
        except asyncio.TimeoutError:
            self._kill(job)
            job.finish('TIMEOUT', 0, 0, ('CANCELLED', 0, int(signal.SIGTERM)))
            return
        except OSError:
            job.finish('FAILED', 0, LAUNCH_FAILED_SIGNAL, ('CANCELLED', 0, LAUNCH_FAILED_SIGNAL))
            return
        if not job.finished:
            job.finish_with_returncode(returncode)

    def _dependencies_met(self, job: Job) -> bool:
        for kind, other_id in job.spec.dependencies:
            other = self._jobs.get(other_id)
            if other is None:
                continue
            if not other.finished:
                return False
            succeeded = other.state == FINISHED_OK
            if (kind == 'afterok' and not succeeded) or (kind == 'afternotok' and succeeded):
                return False
        return True

    def _can_start(self, job: Job) -> bool:
        """Slurm cannot start a job in a missing directory, or (as this user) outside the file systems."""
        directory = job.spec.working_directory
        inside = file_system_root(self.settings, os.path.realpath(directory)) is not None
        return os.path.isabs(directory) and os.path.isdir(directory) and inside

    def job_environment(self, job: Job) -> dict[str, str]:
        """The environment a job sees: the server's, Slurm's variables, then the submitted ``env``."""
        spec = job.spec
        slurm = {
            'SLURM_JOB_ID': str(job.id),
            'SLURM_JOBID': str(job.id),
            'SLURM_JOB_NAME': spec.name,
            'SLURM_JOB_ACCOUNT': spec.account,
            'SLURM_JOB_PARTITION': spec.partition,
            'SLURM_JOB_USER': self.settings.username,
            'SLURM_JOB_UID': str(self.settings.uid),
            'SLURM_SUBMIT_DIR': spec.working_directory,
            'SLURM_CLUSTER_NAME': CLUSTER,
            'SLURM_JOB_NODELIST': self.hostname,
            'SLURM_NNODES': '1',
            'SLURM_NTASKS': '1',
        }
        return {**os.environ, **slurm, **spec.env}

    async def _execute(self, job: Job) -> int:
        if job.spec.action is not None:
            return await job.spec.action(job)
        self._spool.mkdir(parents=True, exist_ok=True)
        script = self._spool / f'job{job.id}.sh'
        script.write_text(job.spec.script)
        with contextlib.ExitStack() as files:
            stdout, stderr, stdin = self._open_streams(job, files)
            job.process = await asyncio.create_subprocess_exec(
                'bash',
                str(script),
                cwd=self.job_directory(job),
                env=self.job_environment(job),
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        returncode = await job.process.wait()
        _signal_group(job.process.pid, signal.SIGKILL)  # what the script left behind ends with the job
        return returncode

    def job_directory(self, job: Job) -> str:
        """Where the job's script runs: Slurm starts it in its working directory."""
        return job.spec.working_directory

    @staticmethod
    def _open_streams(job: Job, files: contextlib.ExitStack) -> tuple[IO[bytes], IO[bytes], IO[bytes]]:
        spec = job.spec
        stdout = files.enter_context(open(spec.standard_output, 'wb'))  # noqa: SIM115
        stderr = stdout
        if spec.standard_error != spec.standard_output:
            stderr = files.enter_context(open(spec.standard_error, 'wb'))  # noqa: SIM115
        stdin = files.enter_context(open(spec.standard_input, 'rb'))  # noqa: SIM115
        return stdout, stderr, stdin

    def _kill(self, job: Job) -> None:
        """SIGTERM the job's process group (SIGKILL after a grace period) and stop its coroutine."""
        if job.task is not None and job.task is not asyncio.current_task():
            job.task.cancel()
        if job.process is not None and job.process.returncode is None:
            _signal_group(job.process.pid, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            loop.call_later(KILL_GRACE_SECONDS, _signal_group, job.process.pid, signal.SIGKILL)

    # --- scancel and srun -------------------------------------------------------------------

    def cancel(self, job_id: str) -> None:
        """scancel: the job becomes ``CANCELLED by <uid>`` at once; its processes get SIGTERM."""
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        prefix = f'scancel: Terminating job {job_id}\nscancel: error: Kill job error on job id {job_id}: '
        if job is None:
            raise SlurmError(prefix + 'Invalid job id specified\n', 0)
        if job.finished:
            raise SlurmError(prefix + 'Job/step already completing or completed\n', 0)
        batch = None if job.batch is None else ('CANCELLED', 0, 0)
        job.finish(f'CANCELLED by {self.settings.uid}', 0, 0, batch)
        self._kill(job)

    async def attach(self, job_id: str, command: str) -> None:
        """srun --overlap --jobid: run ``command`` inside a running job and wait for it."""
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None or job.state != 'RUNNING':
            reason = 'Invalid job id specified' if job is None else 'Job/step already completing or completed'
            raise SlurmError(f'srun: error: Unable to confirm allocation for job {job_id}: {reason}\n')
        words = shlex.split(command) or ['bash']
        step = Step(number=len(job.steps), name=os.path.basename(words[0]), start=time.time())
        job.steps.append(step)
        process = await asyncio.create_subprocess_exec(
            'bash',
            '-c',
            command,
            cwd=job.spec.working_directory,
            env=self.job_environment(job),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = await asyncio.wait_for(process.wait(), self.settings.command_timeout)
        except asyncio.TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            raise CommandTimeoutError from None
        step.end = time.time()
        step.state = 'COMPLETED' if returncode == 0 else 'FAILED'
        step.exit_code, step.signal = max(returncode, 0), max(-returncode, 0)

    def shutdown(self) -> None:
        """Stop every job that still runs (the server is going away)."""
        for job in self._jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
            if job.process is not None and job.process.returncode is None:
                _signal_group(job.process.pid, signal.SIGKILL)

    # --- records ----------------------------------------------------------------------------

    def record(self, job: Job) -> dict[str, Any]:
        """The job as ``GET /compute/{system}/jobs/{id}`` lists it: its own record, or the placeholder.

        For ``placeholder_record_for`` seconds after a job that ran under a second ended, the real
        server's accounting may still lack the job's own record (it learnt of the batch step first).
        It then shows a placeholder with the job's state, times and node but the name 'allocation',
        group root, no partition, working directory nor time limit, and priority 0 (recordings 60,
        63, 65, 69-72; the job's own record is back minutes later, recording 52).
        """
        record = self._own_record(job)
        if self._shows_placeholder(job):
            record.update(PLACEHOLDER, time={**record['time'], 'limit': None})
        return record

    def _shows_placeholder(self, job: Job) -> bool:
        if job.start is None or job.end is None:
            return False
        return (
            job.end - job.start < QUICK_RUN_SECONDS
            and time.time() - job.end < self.settings.placeholder_record_for
        )

    def _own_record(self, job: Job) -> dict[str, Any]:
        spec, pending, started = job.spec, job.state == 'PENDING', job.start is not None
        nodes = '' if pending else (self.hostname if started else 'None assigned')
        return {
            'jobId': str(job.id),
            'name': spec.name,
            'status': status_record(job.state, job.reason, job.exit_code, job.signal),
            'tasks': self._tasks(job),
            'time': time_record(job.start, job.end, None if pending else 0, spec.time_limit),
            'account': spec.account,
            'allocationNodes': 1 if started or pending else 0,
            'cluster': CLUSTER,
            'group': self.settings.group,
            'nodes': nodes,
            'partition': spec.partition,
            'killRequestUser': None,
            'user': self.settings.username,
            'workingDirectory': spec.working_directory,
            'priority': 0 if spec.hold else BASE_PRIORITY - job.id,
        }

    def _tasks(self, job: Job) -> list[dict[str, Any]]:
        if job.batch is None:
            return []
        state, exit_code, sig = job.batch
        batch = task_record(
            f'{job.id}.batch', 'batch', status_record(state, None, exit_code, sig), job.start, job.end
        )
        steps = [
            task_record(
                f'{job.id}.{step.number}',
                step.name,
                status_record(step.state, None, step.exit_code, step.signal),
                step.start,
                step.end,
            )
            for step in job.steps
        ]
        return [batch, *steps]

    @staticmethod
    def metadata(job: Job) -> dict[str, Any]:
        """The job as ``GET /compute/{system}/jobs/{id}/metadata`` describes it."""
        spec = job.spec
        return {
            'jobId': str(job.id),
            'script': spec.script,
            'standardInput': spec.standard_input,
            'standardOutput': spec.standard_output,
            'standardError': spec.standard_error,
        }


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
