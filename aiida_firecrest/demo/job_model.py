"""What a job of the demo server is: its submission, its specification, its steps and where it is in its life.

The job runner (:mod:`.jobs`) creates and drives them; the Slurm and PBS records (:mod:`.slurm`,
:mod:`.pbs`) are read from them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

FINISHED_OK = 'COMPLETED'

Action = Callable[['Job'], Awaitable[int]]
"""A job body run inside the server instead of a bash script; returns the exit code."""


@dataclasses.dataclass
class JobRequest:
    """A submission as ``POST /compute/{system}/jobs`` describes it (JSON fields win over ``#SBATCH``)."""

    working_directory: str
    script: str | None = None
    script_path: str | None = None
    name: str | None = None
    partition: str | None = None
    account: str | None = None
    standard_input: str | None = None
    standard_output: str | None = None
    standard_error: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class JobSpec:
    """What a job is: fixed at submission."""

    name: str
    script: str
    working_directory: str
    account: str
    partition: str
    time_limit: int | None
    standard_output: str
    standard_error: str
    standard_input: str = '/dev/null'
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    hold: bool = False
    dependencies: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    action: Action | None = None


@dataclasses.dataclass
class Step:
    """A command attached to a running job (``srun --overlap --jobid``): task ``<id>.<n>``."""

    number: int
    name: str
    start: float
    state: str = 'RUNNING'
    exit_code: int = 0
    signal: int = 0
    end: float | None = None


@dataclasses.dataclass
class Job:
    """A job and where it is in its life."""

    id: int
    spec: JobSpec
    submitted: float
    state: str = 'PENDING'
    reason: str = 'Priority'
    exit_code: int | None = None
    signal: int | None = None
    batch: tuple[str, int, int] | None = None
    """State, exit code and signal of the batch step, once the job has started."""
    start: float | None = None
    end: float | None = None
    steps: list[Step] = dataclasses.field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.end is not None

    def run(self, now: float) -> None:
        self.state, self.reason, self.exit_code, self.signal = 'RUNNING', 'None', 0, 0
        self.batch = ('RUNNING', 0, 0)
        self.start = now

    def finish(self, state: str, exit_code: int, sig: int, batch: tuple[str, int, int] | None) -> None:
        self.state, self.exit_code, self.signal = state, exit_code, sig
        self.batch = batch
        self.end = time.time()
        if self.reason != 'Dependency':
            self.reason = 'None'

    def finish_with_returncode(self, returncode: int) -> None:
        """COMPLETED for 0, FAILED with the exit code, or FAILED with the signal that killed it."""
        if returncode < 0:
            self.finish('FAILED', 0, -returncode, ('FAILED', 0, -returncode))
        else:
            state = FINISHED_OK if returncode == 0 else 'FAILED'
            self.finish(state, returncode, 0, (state, returncode, 0))
