"""The demo server's PBS job runner: :class:`.jobs.JobRunner` with qsub, qstat and qdel's behaviour.

What a PBS system does differently is described in :mod:`.pbs`; this runner wires it into the job
runner's hooks (the job specification, directory, environment, records, errors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from .errors import FirecrestHTTPError
from .job_model import Job, JobRequest, JobSpec
from .jobs import JobRunner
from .pbs import (
    DEFAULT_ENV,
    DEFAULT_PROJECT,
    DEFAULT_QUEUE,
    FINISHED_JOB_EXIT,
    QUEUES,
    UNKNOWN_JOB_EXIT,
    UNKNOWN_QUEUE_EXIT,
    AttachUnsupportedError,
    PbsError,
    escaped,
    exit_status,
    output_pattern,
    parse_pbs_dependencies,
    parse_pbs_directives,
    parse_walltime,
    pbs_state,
    read_script,
    resource_list,
)


class PbsJobRunner(JobRunner):
    """The jobs of a demo PBS system: qsub's reading of scripts, qstat's records, qdel's errors."""

    @property
    def server(self) -> str:
        """The PBS server's name, the suffix of PBS's job ids (``12.<server>``)."""
        return self.hostname.split('.')[0]

    # --- qsub

    async def submit(self, request: JobRequest) -> Job:
        """``cd WORKDIR && qsub ...``: the working directory must exist, a script path be readable."""
        if not os.path.isdir(request.working_directory):
            raise PbsError(
                'qsub', f'bash: line 1: cd: {request.working_directory}: No such file or directory\n'
            )
        if request.script is None and request.script_path is not None:
            request = dataclasses.replace(request, script=read_script(request.script_path))
        return await super().submit(request)

    def _spec(self, request: JobRequest, script: str) -> JobSpec:
        """The job as qsub makes it from the request's options and the script's ``#PBS`` lines."""
        directives = parse_pbs_directives(script)
        options = dict(directives)
        overrides = {'N': request.name, 'q': request.partition, 'P': request.account}
        overrides.update({'o': request.standard_output, 'e': request.standard_error})
        options.update({letter: value for letter, value in overrides.items() if value is not None})
        queue = options.get('q', DEFAULT_QUEUE)
        if queue not in QUEUES:
            raise PbsError('qsub', 'qsub: Unknown queue\n', UNKNOWN_QUEUE_EXIT)
        resources = resource_list([value for letter, value in directives if letter == 'l'])
        depend = next(
            (value for letter, value in directives if letter == 'W' and value.startswith('depend=')), ''
        )
        name = options.get('N') or (Path(request.script_path).name if request.script_path else 'STDIN')
        stdout, stderr = self._output_patterns(options, name)
        return JobSpec(
            name=name,
            script=script,
            working_directory=request.working_directory,
            account=options.get('P', DEFAULT_PROJECT),
            partition=queue,
            time_limit=parse_walltime(resources['walltime']) if 'walltime' in resources else None,
            standard_output=stdout,
            standard_error=stderr,
            env=dict(request.env) or dict(DEFAULT_ENV),
            hold='h' in options,
            dependencies=parse_pbs_dependencies(depend.removeprefix('depend=')),
        )

    @staticmethod
    def _output_patterns(options: dict[str, str], name: str) -> tuple[str, str]:
        """Where stdout and stderr go: ``-o``/``-e``, else ``<name>.o<id>``/``.e<id>``; ``-j`` merges them."""
        stdout = escaped(output_pattern(options['o'])) if 'o' in options else f'{escaped(name)}.o%j'
        stderr = escaped(output_pattern(options['e'])) if 'e' in options else f'{escaped(name)}.e%j'
        join = options.get('j', 'n')
        if join == 'oe':
            return stdout, stdout
        if join == 'eo':
            return stderr, stderr
        return stdout, stderr

    # --- running

    def job_directory(self, job: Job) -> str:
        """PBS starts a job in the user's home directory, not where it was submitted."""
        return str(self.settings.home)

    def _can_start(self, job: Job) -> bool:
        return self.settings.home.is_dir()

    def job_environment(self, job: Job) -> dict[str, str]:
        """The environment a job sees: the server's, PBS's variables, then the ``-v`` variables."""
        spec, settings = job.spec, self.settings
        nodefile = self._spool / f'job{job.id}.nodes'
        self._spool.mkdir(parents=True, exist_ok=True)
        nodefile.write_text(f'{self.hostname}\n')
        pbs = {
            'PBS_JOBID': f'{job.id}.{self.server}',
            'PBS_JOBNAME': spec.name,
            'PBS_QUEUE': spec.partition,
            'PBS_O_QUEUE': spec.partition,
            'PBS_O_WORKDIR': spec.working_directory,
            'PBS_O_HOME': str(settings.home),
            'PBS_O_LOGNAME': settings.username,
            'PBS_O_HOST': self.hostname,
            'PBS_O_SYSTEM': 'Linux',
            'PBS_ENVIRONMENT': 'PBS_BATCH',
            'PBS_NODEFILE': str(nodefile),
            'PBS_JOBDIR': str(settings.home),
            'HOME': str(settings.home),
        }
        return {**os.environ, **pbs, **spec.env}

    async def _execute(self, job: Job) -> int:
        """Run the job; if it outlives its walltime, end its stderr with PBS's message as MoM does."""
        try:
            return await super()._execute(job)
        except asyncio.CancelledError:
            limit, start = job.spec.time_limit, job.start
            if not job.finished and limit is not None and start is not None and time.time() - start >= limit:
                with open(job.spec.standard_error, 'a') as stderr:
                    stderr.write(
                        f'=>> PBS: job killed: walltime {int(time.time() - start)} exceeded limit {limit}\n'
                    )
            raise

    # --- qstat

    def not_found_error(self, job_id: str, user: str) -> FirecrestHTTPError:
        if not job_id.isdigit():
            return PbsError('qstat', f'qstat: illegally formed job identifier: {job_id}\n').http_error(user)
        return PbsError(
            'qstat', f'qstat: Unknown Job Id {job_id}.{self.server}\n', UNKNOWN_JOB_EXIT
        ).http_error(user)

    def record(self, job: Job) -> dict[str, Any]:
        """The job as FirecREST renders ``qstat -f -F json -x`` (its ``PbsJob`` model)."""
        spec, started = job.spec, job.start is not None
        return {
            'jobId': str(job.id),
            'name': spec.name,
            'status': {
                'state': pbs_state(job),
                'stateReason': None,
                'exitCode': exit_status(job),
                'interruptSignal': None,
            },
            'tasks': None,
            'time': {
                'elapsed': int((job.end or time.time()) - job.start) if job.start is not None else None,
                'start': int(job.start) if job.start is not None else None,
                'end': None,
                'suspended': None,
                'limit': spec.time_limit,
            },
            'account': spec.account,
            'allocationNodes': 1,
            'cluster': self.server,
            'group': None,
            'nodes': self.hostname if started else 'None assigned',
            'partition': spec.partition,
            'killRequestUser': None,
            'user': self.settings.username,
            'workingDirectory': spec.working_directory,
            'priority': 0,
        }

    @staticmethod
    def metadata(job: Job) -> dict[str, Any]:
        """The job as FirecREST's PBS metadata gives it: no script, and its output paths swapped.

        The real ``PbsJobMetadata`` reads ``standardOutput`` from ``Error_Path`` and ``standardError``
        from ``Output_Path``; the demo answers the same.
        """
        return {
            'jobId': str(job.id),
            'script': None,
            'standardInput': None,
            'standardOutput': job.spec.standard_error,
            'standardError': job.spec.standard_output,
        }

    # --- qdel

    def cancel(self, job_id: str) -> None:
        """qdel: as scancel for a job that has not finished; PBS's errors otherwise."""
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None:
            raise PbsError('qdel', f'qdel: Unknown Job Id {job_id}.{self.server}\n', UNKNOWN_JOB_EXIT)
        if job.finished:
            raise PbsError('qdel', f'qdel: Job has finished {job_id}.{self.server}\n', FINISHED_JOB_EXIT)
        super().cancel(job_id)

    async def attach(self, job_id: str, command: str) -> None:
        raise AttachUnsupportedError
