"""Requests to FirecREST per CalcJob and per scheduler poll: what a user's calculation costs.

    python benchmarks/scheduler_requests.py [--config FILE | --scheduler pbs | --api v1] [--runs 3]
        [--poll-interval 1.0]

1. One ``core.arithmetic.add`` CalcJob run by the engine (``run_get_node``), each run in a new Python
   process with a new AiiDA profile, so that nothing is cached (no token, no system description, no
   user info), on a computer whose minimum job poll interval is set as a user sets it. Every request
   the calculation sends is counted from the client's side (``httpx``'s request log), by endpoint,
   from the first (the token) to the last download: first-use lookups and job-list polls included.
   On a demo server, the server's own counters are read as well and must agree.
2. One poll cycle (``FirecrestScheduler.get_jobs``) for 1, 10 and 100 jobs, and for 10 jobs of which
   one is missing from the job list (demo server only: it needs the server's counters).

Without ``--config`` a demo server is started (its system a Slurm one, or PBS with ``--scheduler pbs``).
``--config FILE`` is a connection file (``url``, ``token_uri``, ``client_id``, ``client_secret``,
``compute_resource``, ``workdir``, ``temp_directory``, ``billing_account``, ``scheduler``), as
``python firecrest_demo.py serve --config-out FILE`` writes it, or one for a real server: then only
part 1 runs, counted from the client's side. ``--api v1`` starts the demo's FirecREST v1 server (or
``--config`` names one with ``api_version: 1``): its job list is ``/compute/acct``, and the polls of
v1's tasks (``GET /tasks/{task_id}``) are counted and shown on a line of their own.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, cast

import httpx

from aiida_firecrest.demo.settings import SYSTEM_NAMES

JOB_LIST = 'GET /compute/{system_name}/jobs'
V1_JOB_LIST = 'GET /compute/acct'
V1_TASK_POLL = 'GET /tasks/{task_id}'
TOKEN = 'token (identity provider)'
OBJECT_STORAGE = 'object storage'
POLL_SIZES = (1, 10, 100)
UNKNOWN_JOB_ID = '999999999'
_JOB_ID = re.compile(r'(?<=/jobs/)(?!(?:path|upload)$)[^/]+')  # v1's /compute/jobs/path|upload are not ids
_TASK_ID = re.compile(r'(?<=^/tasks/)[^/]+')
_HTTP_REQUEST = re.compile(r'HTTP Request: (\S+) (\S+)')


def table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    """A plain-text table with left-aligned columns."""
    lines = [header, *[tuple(str(cell) for cell in row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return '\n'.join(
        '  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


# --- part 1: one CalcJob in a fresh process ------------------------------------------------------


class RequestLog(logging.Handler):
    """Counts the requests ``httpx`` logs, as the demo server names them (``'GET /status/systems'``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.url = str(config['url']).rstrip('/')
        self.token_uri = str(config['token_uri'])
        self.system = str(config['compute_resource'])
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """From the message, not ``record.args``: the plugin's redaction may have formatted it already."""
        request = _HTTP_REQUEST.match(record.getMessage())
        if request is not None:
            method, url = request.groups()
            self.counts[self.endpoint(method, url.split('?')[0])] += 1

    def endpoint(self, method: str, url: str) -> str:
        if url == self.token_uri:
            return TOKEN
        if not url.startswith(self.url):
            return OBJECT_STORAGE
        segments = url[len(self.url) :].split('/')
        path = '/'.join('{system_name}' if segment == self.system else segment for segment in segments)
        return f'{method} {_TASK_ID.sub("{task_id}", _JOB_ID.sub("{job_id}", path))}'


def run_one_calcjob(config: dict[str, Any], poll_interval: float) -> dict[str, Any]:
    """Run one CalcJob in a throwaway profile; its requests by endpoint, exit status and wall time."""
    from aiida_firecrest.demo import walkthrough

    with tempfile.TemporaryDirectory(prefix='scheduler-requests-') as workspace_name:
        workspace = Path(workspace_name)
        with walkthrough.throwaway_profile(workspace / 'aiida'):
            secret = walkthrough.write_secret(workspace, str(config['client_secret']))
            computer = walkthrough.setup_computer(config, secret)
            computer.set_minimum_job_poll_interval(poll_interval)
            log = RequestLog(config)
            httpx_logger = logging.getLogger('httpx')
            httpx_logger.setLevel(logging.INFO)
            httpx_logger.propagate = False
            httpx_logger.addHandler(log)
            started = time.monotonic()
            exit_status = walkthrough.run_addition(computer).exit_status
            seconds = time.monotonic() - started
            httpx_logger.removeHandler(log)
    return {'requests': dict(log.counts), 'exit_status': exit_status, 'seconds': seconds}


def calcjob_in_new_process(config: dict[str, Any], poll_interval: float) -> dict[str, Any]:
    """:func:`run_one_calcjob` in a new Python process (this file with ``--calcjob``)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json') as handle:
        json.dump(config, handle)
        handle.flush()
        command = [sys.executable, __file__, '--calcjob', handle.name, '--poll-interval', str(poll_interval)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f'the CalcJob process failed:\n{done.stderr[-3000:]}')
    return cast('dict[str, Any]', json.loads(done.stdout.strip().splitlines()[-1]))


def calcjob_report(
    runs: list[dict[str, Any]],
    poll_interval: float,
    server_counts: list[dict[str, int]] | None,
    v1: bool = False,
) -> str:
    """The requests of each run by endpoint, FirecREST's first, then the totals (v1: its task polls)."""
    firecrest = sorted(
        {endpoint for run in runs for endpoint in run['requests'] if endpoint not in (TOKEN, OBJECT_STORAGE)}
    )
    columns = [f'run {index}' for index in range(1, len(runs) + 1)]

    def counts(endpoint: str) -> list[int]:
        return [run['requests'].get(endpoint, 0) for run in runs]

    rows = [(endpoint, *counts(endpoint)) for endpoint in firecrest]
    totals = [sum(run['requests'].get(endpoint, 0) for endpoint in firecrest) for run in runs]
    job_list = V1_JOB_LIST if v1 else JOB_LIST
    rows += [
        ('FirecREST requests, upload to retrieval, polls included', *totals),
        (f'  of which job-list polls ({job_list})', *counts(job_list)),
        *([(f'  of which task polls ({V1_TASK_POLL})', *counts(V1_TASK_POLL))] if v1 else []),
        (TOKEN, *counts(TOKEN)),
        (OBJECT_STORAGE, *counts(OBJECT_STORAGE)),
        ('exit status', *[run['exit_status'] for run in runs]),
        ('seconds', *[f'{run["seconds"]:.1f}' for run in runs]),
    ]
    lines = [
        *(
            ["FirecREST v1 (the job list is sacct's, one job's record too; tasks polls counted)"]
            if v1
            else []
        ),
        f'One core.arithmetic.add CalcJob via run_get_node, each in a new process '
        f'(minimum job poll interval {poll_interval:g} s), requests counted by the client:',
        table(rows, ('endpoint', *columns)),
    ]
    if server_counts is not None:
        client_counts = [
            {key: run['requests'][key] for key in firecrest if key in run['requests']} for run in runs
        ]
        same = server_counts == client_counts
        lines.append(f'The demo server counted {"the same" if same else f"otherwise: {server_counts}"}.')
    return '\n'.join(lines)


# --- part 2: poll cycles (demo server) -----------------------------------------------------------


def submit_jobs(server: Any, scheduler: Any, count: int) -> list[str]:
    """Submit ``count`` trivial jobs (one uploaded script, submitted ``count`` times)."""
    directory = PurePosixPath(server.config['workdir']) / f'poll-{count}'
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / 'job.sh').write_text('#!/bin/bash\ntrue\n')
    return [str(scheduler.submit_job(str(directory), 'job.sh')) for _ in range(count)]


def poll_requests(server: Any) -> str:
    """One poll cycle for several numbers of jobs (polled after their first second)."""
    from aiida_firecrest.demo import walkthrough
    from aiida_firecrest.scheduler import FirecrestScheduler

    rows = []
    with tempfile.TemporaryDirectory(prefix='scheduler-polls-') as workspace_name:
        workspace = Path(workspace_name)
        with walkthrough.throwaway_profile(workspace / 'aiida'):
            secret = walkthrough.write_secret(workspace, str(server.config['client_secret']))
            computer = walkthrough.setup_computer(server.config, secret)
            with computer.get_transport() as transport:
                scheduler = computer.get_scheduler()
                assert isinstance(scheduler, FirecrestScheduler), scheduler
                scheduler.set_transport(transport)
                for size in POLL_SIZES:
                    job_ids = submit_jobs(server, scheduler, size)
                    time.sleep(scheduler.just_submitted_seconds)
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


def _one_poll(server: Any, scheduler: Any, job_ids: list[str], label: str) -> tuple[str, int, str]:
    server.reset_counters()
    scheduler.get_jobs(jobs=job_ids, as_dict=True)
    counters = server.counters()
    return (
        label,
        sum(counters.values()),
        ', '.join(f'{endpoint}: {n}' for endpoint, n in sorted(counters.items())),
    )


def demo_counters(config: dict[str, Any]) -> dict[str, int] | None:
    """The demo server's request counters, or None if the server has none (a real server)."""
    try:
        response = httpx.get(f'{str(config["url"]).rstrip("/")}/_demo/counters', timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def reset_demo_counters(config: dict[str, Any]) -> None:
    httpx.delete(f'{str(config["url"]).rstrip("/")}/_demo/counters', timeout=10).raise_for_status()


def measure_calcjobs(config: dict[str, Any], runs: int, poll_interval: float) -> str:
    on_demo = demo_counters(config) is not None
    results, server_counts = [], []
    for _ in range(runs):
        if on_demo:
            reset_demo_counters(config)
        results.append(calcjob_in_new_process(config, poll_interval))
        if on_demo:
            server_counts.append(demo_counters(config) or {})
    v1 = str(config.get('api_version')) == '1'
    return calcjob_report(results, poll_interval, server_counts if on_demo else None, v1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config', type=Path, help='connection file of a running server (default: start a demo)'
    )
    parser.add_argument('--runs', type=int, default=3, help='CalcJobs to run, each in a new process')
    parser.add_argument(
        '--poll-interval', type=float, default=1.0, help="the computer's minimum job poll interval"
    )
    parser.add_argument(
        '--scheduler', choices=tuple(SYSTEM_NAMES), default='slurm', help="the demo system's (default: slurm)"
    )
    parser.add_argument(
        '--api', choices=('v2', 'v1'), default='v2', help="the demo server's FirecREST API (default: v2)"
    )
    parser.add_argument('--calcjob', type=Path, help=argparse.SUPPRESS)  # the child process of part 1
    options = parser.parse_args()
    if options.calcjob:
        print(json.dumps(run_one_calcjob(json.loads(options.calcjob.read_text()), options.poll_interval)))
        return
    if options.config:
        print(measure_calcjobs(json.loads(options.config.read_text()), options.runs, options.poll_interval))
        return
    from aiida_firecrest.demo.launcher import DemoServer

    with DemoServer(
        scheduler=options.scheduler, api=options.api
    ) as server:  # in a temporary directory, removed at its stop
        print(measure_calcjobs(server.config, options.runs, options.poll_interval), end='\n\n')
        print(poll_requests(server))


if __name__ == '__main__':
    main()
