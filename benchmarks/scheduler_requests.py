"""Requests to FirecREST per CalcJob and per scheduler poll, counted by the demo server.

    python benchmarks/scheduler_requests.py [--scheduler pbs]

1. One ``core.arithmetic.add`` CalcJob run by the engine, from upload to retrieval: the requests by
   endpoint, with the job-list polls counted apart (their number depends on how long the job waits).
2. One poll cycle (``FirecrestScheduler.get_jobs``) for 1, 10 and 100 jobs, and for 10 jobs of which
   one is missing from the job list (it is then asked for individually).

Everything runs against a local demo server (its system a Slurm one, or PBS with ``--scheduler pbs``)
in a throwaway AiiDA profile, removed at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from aiida_firecrest.demo.launcher import DemoServer
from aiida_firecrest.demo.settings import SYSTEM_NAMES
from aiida_firecrest.demo.walkthrough import run_addition, setup_computer, throwaway_profile, write_secret

JOB_LIST = 'GET /compute/{system_name}/jobs'
POLL_SIZES = (1, 10, 100)
UNKNOWN_JOB_ID = '999999999'


def table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    """A plain-text table with left-aligned columns."""
    lines = [header, *[tuple(str(cell) for cell in row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return '\n'.join(
        '  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def calcjob_requests(server: DemoServer, computer: Any) -> str:
    """Run one CalcJob and describe its requests, polls apart."""
    server.reset_counters()
    started = time.monotonic()
    node = run_addition(computer)
    seconds = time.monotonic() - started
    counters = server.counters()
    polls = counters.pop(JOB_LIST, 0)
    rows = sorted(counters.items(), key=lambda item: (-item[1], item[0]))
    return '\n'.join(
        [
            f'One core.arithmetic.add CalcJob (exit status {node.exit_status}, {seconds:.1f} s):',
            f'  {sum(counters.values())} requests from upload to retrieval, plus {polls} job-list poll(s)',
            table(((count, endpoint) for endpoint, count in rows), ('requests', 'endpoint')),
        ]
    )


def submit_jobs(server: DemoServer, scheduler: Any, count: int) -> list[str]:
    """Submit ``count`` trivial jobs (one uploaded script, submitted ``count`` times)."""
    directory = PurePosixPath(server.config['workdir']) / f'poll-{count}'
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / 'job.sh').write_text('#!/bin/bash\ntrue\n')
    return [str(scheduler.submit_job(str(directory), 'job.sh')) for _ in range(count)]


def poll_requests(server: DemoServer, computer: Any) -> str:
    """One poll cycle for several numbers of jobs."""
    rows = []
    with computer.get_transport() as transport:
        scheduler = computer.get_scheduler()
        scheduler.set_transport(transport)
        for size in POLL_SIZES:
            job_ids = submit_jobs(server, scheduler, size)
            rows.append(_one_poll(server, scheduler, job_ids, f'{size} job(s)'))
        rows.append(
            _one_poll(server, scheduler, [*job_ids[:9], UNKNOWN_JOB_ID], '10 jobs, 1 not in the list')
        )
    return '\n'.join(
        [
            'One poll cycle (FirecrestScheduler.get_jobs):',
            table(rows, ('jobs polled', 'requests', 'by endpoint')),
        ]
    )


def _one_poll(server: DemoServer, scheduler: Any, job_ids: list[str], label: str) -> tuple[str, int, str]:
    server.reset_counters()
    scheduler.get_jobs(jobs=job_ids, as_dict=True)
    counters = server.counters()
    return (
        label,
        sum(counters.values()),
        ', '.join(f'{endpoint}: {n}' for endpoint, n in sorted(counters.items())),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scheduler', choices=tuple(SYSTEM_NAMES), default='slurm', help='default: slurm')
    scheduler = parser.parse_args().scheduler
    with tempfile.TemporaryDirectory(prefix='scheduler-requests-') as workspace_name:
        workspace = Path(workspace_name)
        server = DemoServer(root=workspace / 'cluster', scheduler=scheduler)
        with server, throwaway_profile(workspace / 'aiida'):
            secret = write_secret(workspace, str(server.config['client_secret']))
            computer = setup_computer(server.config, secret)
            print(calcjob_requests(server, computer), end='\n\n')
            print(poll_requests(server, computer))


if __name__ == '__main__':
    main()
