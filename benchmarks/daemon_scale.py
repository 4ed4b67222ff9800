"""Daemon scale: many CalcJobs through an AiiDA daemon of several workers, over a slow link, then a 429 storm.

Usage::

    python benchmarks/daemon_scale.py [--jobs 200] [--workers 4] [--latency 0.05] [--quick]
                                      [--firecrest-config FILE]

Runs ``core.arithmetic.add`` CalcJobs through the daemon, as ``benchmarks/faults.py`` does (the same
throwaway profile, ZeroMQ broker, fault-injecting proxy, and checks), with every API request delayed by
``--latency`` seconds at the proxy (a wide-area round trip to a production server), twice: without faults,
then through a 429 storm (every API request answered 429, ``Retry-After: 1``, for 5 s, starting 3 s into
the run). For each run it prints:

* requests per CalcJob (the proxy's count of API requests, divided by the number of CalcJobs);
* token requests per worker (each worker process should fetch one token and renew it when it is due,
  not one per transport it opens);
* the peak number of requests in flight at the proxy at once;
* the requests that reached the server during the storm, per worker and second: a worker that backs off
  sends one probe per ``Retry-After`` (plus what was already on its way), where a worker that retried each
  request on its own would keep sending every request it has, and its retries;
* the CalcJobs that finished ok (every one, or the run is not clean) and the wall time.

``--quick``: 20 CalcJobs. Exit status 1 if a CalcJob failed, hung or gave a wrong sum, or something was
left behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faults


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--jobs', type=int, help='CalcJobs per run (default 200, --quick 20)')
    parser.add_argument('--workers', type=int, default=4, help='daemon workers (default 4)')
    parser.add_argument('--latency', type=float, default=0.05, help='seconds added per API request (0.05)')
    parser.add_argument('--quick', action='store_true', help='20 CalcJobs per run')
    parser.add_argument('--firecrest-config', type=Path, help='connection file of a server (default: a demo)')
    options = parser.parse_args(argv)
    jobs = options.jobs if options.jobs is not None else (20 if options.quick else 200)
    campaign_argv = [
        '--calcjobs-only',
        '--mix', 'none',
        '--mix', 'storm',
        '--jobs', str(jobs),
        '--workers', str(options.workers),
        '--latency', str(options.latency),
        '--job-timeout', str(max(240.0, 3.0 * jobs)),
        '--retry-interval', '5',
    ]  # fmt: skip
    if options.firecrest_config:
        campaign_argv += ['--firecrest-config', str(options.firecrest_config)]
    return faults.parse_args(campaign_argv)


def figures(result: faults.MixResult, workers: int) -> str:
    """The run's figures, one per line."""
    jobs = [outcome for outcome in result.outcomes if outcome.name.startswith('CalcJob')]
    ok = sum(1 for outcome in jobs if outcome.status == 'ok')
    storm = result.mix.storm[1] if result.mix.storm else 0.0
    lines = [
        f'== {result.mix.description}',
        f'   CalcJobs ok                       {ok} of {len(jobs)}',
        f'   requests per CalcJob              {result.requests / max(len(jobs), 1):.1f}'
        f' ({result.requests} API requests)',
        f'   token requests per worker         {result.token_requests / workers:.2f}'
        f' ({result.token_requests} for {workers} workers)',
        f'   peak requests in flight           {result.peak_in_flight}',
        f'   429 answered                      {result.injected.get("429", 0)}',
        f'   requests during the storm         {result.storm_requests}'
        f' ({result.storm_requests / (storm * workers):.1f} per worker and second)'
        if storm
        else '   requests during the storm         -',
        f'   wall time                         {result.seconds:.1f} s',
    ]
    lines += [
        f'   {outcome.status.upper()}: {outcome.name}: {outcome.detail}'
        for outcome in result.outcomes
        if outcome.status != 'ok'
    ]
    lines += [f'   LEFTOVER: {leftover}' for leftover in result.leftovers]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    print(
        f'Daemon scale: {options.jobs} CalcJobs per run, {options.workers} daemon workers, '
        f'{options.latency * 1000:g} ms added to every API request',
        flush=True,
    )
    results = faults.run_campaign(options)
    if results is None:
        print('daemon scale: aborted')
        return 2
    for result in results:
        print(figures(result, options.workers))
    line, clean = faults.summary(results)
    print(f'wall time {time.monotonic() - started:.1f} s')
    print(line.replace('faults:', 'daemon scale:', 1))
    return 0 if clean else 1


if __name__ == '__main__':
    sys.exit(main())
