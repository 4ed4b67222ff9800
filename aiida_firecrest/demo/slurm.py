"""The demo server's Slurm system: its partitions, how sbatch reads a script, its errors and job records.

The job runner (:mod:`.jobs`) runs the jobs; this module is what Slurm itself says of them, as the
recorded FirecREST v2 deployment (Slurm 22.05) renders it: ``#SBATCH`` options as sbatch reads them,
sbatch's output file patterns, the texts of its errors and the pieces of a job's record.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

from .errors import FirecrestHTTPError, RemoteCommandError, slurm_failure

SLURM_VERSION = '22.05.8'
PARTITIONS = ('normal', 'xfer')
DEFAULT_PARTITION = 'normal'
DEFAULT_TIME_LIMIT = 3600
"""Seconds; the limit of partition ``normal`` on the recorded system."""
CLUSTER = 'fc2'
BASE_PRIORITY = 4294901760
"""The recorded priorities are this minus the job id."""
PLACEHOLDER = {'name': 'allocation', 'group': 'root', 'partition': '', 'workingDirectory': '', 'priority': 0}
"""What the placeholder record says instead of the job's own values (its time limit is null too)."""
HISTORY_SECONDS = {'1h': 3600, '8h': 8 * 3600, '24h': 24 * 3600, '3d': 3 * 86400, '7d': 7 * 86400}
"""How far back the job list looks for finished jobs, per ``time_window`` (sacct ``--starttime``)."""
LEGACY_HISTORY = '7d'
"""What servers without ``time_window`` (before 2.5.7) list: the last 7 days."""

SHORT_OPTIONS = {
    'o': 'output',
    'e': 'error',
    'i': 'input',
    'J': 'job-name',
    't': 'time',
    'H': 'hold',
    'p': 'partition',
    'A': 'account',
    'd': 'dependency',
}
FLAG_OPTIONS = {'hold'}


class SlurmError(RemoteCommandError):
    """A Slurm command failed; the real server answers 500 with its stderr, whatever it says."""

    def http_error(self, user: str) -> FirecrestHTTPError:
        return slurm_failure(self.stderr, self.exit_status, user=user)


def parse_time_limit(text: str) -> int | None:
    """Seconds from a Slurm ``--time`` (``M``, ``M:S``, ``H:M:S``, ``D-H[:M[:S]]``); None = unlimited."""
    value = text.strip()
    if value.lower() in {'unlimited', 'infinite', '-1'}:
        return None
    try:
        days = 0
        if '-' in value:
            day_text, value = value.split('-', 1)
            days = int(day_text)
            hours, minutes, seconds = ([*value.split(':'), '0', '0'])[:3]
        else:
            parts = value.split(':')
            if len(parts) > 3:
                raise ValueError(text)
            hours, minutes, seconds = {1: ['0', parts[0], '0'], 2: ['0', *parts], 3: parts}[len(parts)]
        total = ((days * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
    except ValueError:
        raise SlurmError('sbatch: error: Invalid --time specification\n') from None
    return total


def _option(token: str, tokens: list[str]) -> tuple[str, str] | None:
    """One ``#SBATCH`` option as (long name, value), taking its value from ``tokens`` if separate."""
    if token.startswith('--'):
        name, equals, value = token[2:].partition('=')
    elif token.startswith('-') and len(token) > 1 and token[1] in SHORT_OPTIONS:
        name, equals, value = SHORT_OPTIONS[token[1]], '', token[2:]
    else:
        return None
    if name in FLAG_OPTIONS:
        return name, ''
    if not equals and not value:
        if name not in SHORT_OPTIONS.values() or not tokens:
            return None
        value = tokens.pop(0)
    return name, value


def parse_directives(script: str) -> dict[str, str]:
    """The ``#SBATCH`` options of a script, read as sbatch reads them: up to the first command line."""
    options: dict[str, str] = {}
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith('#SBATCH'):
            tokens = shlex.split(stripped[len('#SBATCH') :], comments=True)
            while tokens:
                option = _option(tokens.pop(0), tokens)
                if option is not None:
                    options[option[0]] = option[1]
        elif stripped and not stripped.startswith('#'):
            break
    return options


def parse_dependencies(text: str) -> list[tuple[str, int]]:
    """``afterok:12:13,afterany:14`` as [('afterok', 12), ('afterok', 13), ('afterany', 14)]."""
    dependencies: list[tuple[str, int]] = []
    try:
        for clause in filter(None, text.replace('?', ',').split(',')):
            kind, *ids = clause.split(':')
            dependencies.extend((kind, int(job_id.split('+')[0])) for job_id in ids)
    except ValueError:
        raise SlurmError('sbatch: error: Batch job submission failed: Job dependency problem\n') from None
    return dependencies


def expand_output_path(pattern: str, job_id: int, name: str, user: str, working_directory: str) -> str:
    """An absolute output path from an sbatch filename pattern (``%j``, ``%x``, ``%u``, ``%%``)."""
    expanded = (
        pattern.replace('%%', '\0')
        .replace('%j', str(job_id))
        .replace('%x', name)
        .replace('%u', user)
        .replace('\0', '%')
    )
    return os.path.join(working_directory, expanded)


def read_script(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        raise SlurmError(f'sbatch: error: Unable to open file {path}\n') from None


def status_record(state: str, reason: str | None, exit_code: int | None, sig: int | None) -> dict[str, Any]:
    return {'state': state, 'stateReason': reason, 'exitCode': exit_code, 'interruptSignal': sig}


def time_record(
    start: float | None, end: float | None, suspended: int | None, limit: int | None
) -> dict[str, Any]:
    elapsed = 0 if start is None else int((time.time() if end is None else end) - start)
    return {
        'elapsed': elapsed,
        'start': None if start is None else int(start),
        'end': None if end is None else int(end),
        'suspended': suspended,
        'limit': limit,
    }


def task_record(
    task_id: str, name: str, status: dict[str, Any], start: float | None, end: float | None
) -> dict[str, Any]:
    return {'id': task_id, 'name': name, 'status': status, 'time': time_record(start, end, 0, None)}
