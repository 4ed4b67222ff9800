"""Requests to FirecREST and wall time per transport operation, against the budgets of the design.

Starts the demo server (or uses a running one: ``--config FILE`` as written by
``python firecrest_demo.py serve --config-out FILE``; counters must be available, i.e. a demo server),
and runs each operation as a user's first call pays it: in a transport just opened (which sends nothing),
with the process's cached server facts forgotten. It prints, per operation, the requests counted by the
server (object-storage traffic is not counted) and the wall time of the call.

With ``--api v1`` the demo's FirecREST v1 server is started instead (or ``--config`` names one): the
requests then include the polls of v1's tasks (``GET /tasks/{task_id}``), printed in their own column;
the budgets are those of the v2 design.

Usage: ``python benchmarks/transport_requests.py [--config FILE] [--api v2|v1] [--files 100] [--latency 0.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import httpx

from aiida_firecrest.config import AUTH_OPTIONS
from aiida_firecrest.server_facts import clear_server_facts
from aiida_firecrest.transport import FirecrestTransport

Operation = Callable[[FirecrestTransport], Awaitable[Any]]
V1_TASK_POLL = 'GET /tasks/{task_id}'


class Counters:
    """The demo server's request counters (``/_demo/counters``)."""

    def __init__(self, url: str) -> None:
        self._url = f'{url}/_demo/counters'

    def reset(self) -> None:
        httpx.delete(self._url, timeout=10).raise_for_status()

    def read(self) -> dict[str, int]:
        response = httpx.get(self._url, timeout=10)
        response.raise_for_status()
        return cast('dict[str, int]', response.json())


def make_tree(root: Path, files: int) -> None:
    for index in range(files):
        path = root.joinpath(
            *[f'level{depth}-{index % (depth + 2)}' for depth in range(index % 4)], f'f{index}.txt'
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'file {index}\n' * 20)


STAGED_SIZE = 12 * 1024 * 1024
"""A file above any direct-transfer limit of a default server (5 MiB), as a user's large output."""


async def staged_round_trip(t: FirecrestTransport, local: Path, remote: str) -> None:
    """putfile then getfile of the 12 MiB file, checking that the content came back unchanged."""
    await t.putfile_async(local / 'staged.bin', f'{remote}/round-trip.bin')
    await t.getfile_async(f'{remote}/round-trip.bin', local / 'round-trip-back.bin')
    if (local / 'round-trip-back.bin').read_bytes() != (local / 'staged.bin').read_bytes():
        raise AssertionError('the staged round trip changed the content')


def operations(local: Path, remote: str, files: int) -> list[tuple[str, str, Operation]]:
    """``(name, budget, operation)`` in the order they run (later ones use what earlier ones made)."""
    return [
        ('putfile (small)', '1', lambda t: t.putfile_async(local / 'small.txt', f'{remote}/small.txt')),
        ('getfile (small)', '2', lambda t: t.getfile_async(f'{remote}/small.txt', local / 'small-back.txt')),
        ('putfile (empty)', '-', lambda t: t.putfile_async(local / 'empty', f'{remote}/empty')),
        (
            'putfile (staged, 12 MiB)',
            '-',
            lambda t: t.putfile_async(local / 'staged.bin', f'{remote}/staged.bin'),
        ),
        (
            'getfile (staged, 12 MiB)',
            '-',
            lambda t: t.getfile_async(f'{remote}/staged.bin', local / 'staged-back.bin'),
        ),
        ('putfile + getfile (staged, 12 MiB)', '10', lambda t: staged_round_trip(t, local, remote)),
        (
            f'puttree ({files} nested files)',
            '3 + c',
            lambda t: t.puttree_async(local / 'tree', f'{remote}/tree'),
        ),
        (
            f'gettree ({files} nested files)',
            '4 + c',
            lambda t: t.gettree_async(f'{remote}/tree', local / 'tree-back'),
        ),
        (f'listdir ({files} entries)', '1', lambda t: t.listdir_async(f'{remote}/flat')),
        (
            f'listdir_withattributes ({files} entries)',
            '1',
            lambda t: t.listdir_withattributes_async(f'{remote}/flat'),
        ),
        ('isfile', '-', lambda t: t.isfile_async(f'{remote}/small.txt')),
        ('get_attribute', '-', lambda t: t.get_attribute_async(f'{remote}/small.txt')),
        ('makedirs (3 levels)', '-', lambda t: t.makedirs_async(f'{remote}/a/b/c')),
        (
            'copyfile (transfer job)',
            '-',
            lambda t: t.copyfile_async(f'{remote}/small.txt', f'{remote}/copy.txt'),
        ),
        (
            'copyfile with dereference',
            '-',
            lambda t: t.copyfile_async(f'{remote}/small.txt', f'{remote}/deref.txt', dereference=True),
        ),
        (
            'rename (transfer job)',
            '-',
            lambda t: t.rename_async(f'{remote}/copy.txt', f'{remote}/renamed.txt'),
        ),
        (
            'compress tar.gz (child of root_dir)',
            '-',
            lambda t: t.compress_async('tar.gz', f'{remote}/tree', f'{remote}/t.tar.gz', remote),
        ),
        ('extract tar.gz', '-', lambda t: t.extract_async(f'{remote}/t.tar.gz', f'{remote}/extracted')),
        ('remove', '-', lambda t: t.remove_async(f'{remote}/renamed.txt')),
        ('rmtree', '-', lambda t: t.rmtree_async(f'{remote}/extracted')),
        ('whoami (twice)', '-', lambda t: asyncio.gather(t.whoami_async(), t.whoami_async())),
    ]


async def first_call(
    params: dict[str, Any], counters: Counters, operation: Operation
) -> tuple[int, float, dict[str, int]]:
    """Requests and wall time of ``operation``, first call of a transport just opened, caches cleared."""
    clear_server_facts()
    transport = FirecrestTransport(machine='localhost', safe_interval=0, **params)
    await transport.open_async()
    try:
        counters.reset()
        started = time.perf_counter()
        await operation(transport)
        elapsed = time.perf_counter() - started
        counted = counters.read()
    finally:
        await transport.close_async()
    return sum(counted.values()), elapsed, counted


async def measure(
    config: dict[str, Any], counters: Counters, files: int
) -> list[tuple[str, str, int, float, dict[str, int]]]:
    params = {name: config[name] for name, _ in AUTH_OPTIONS if name in config}
    local = Path(tempfile.mkdtemp(prefix='firecrest-benchmark-'))
    (local / 'small.txt').write_text('small file\n' * 100)
    (local / 'empty').write_bytes(b'')
    (local / 'staged.bin').write_bytes(os.urandom(STAGED_SIZE))
    make_tree(local / 'tree', files)
    remote = f'{config["workdir"]}/benchmark-{int(time.time())}'
    flat = Path(remote) / 'flat'
    setup = FirecrestTransport(machine='localhost', safe_interval=0, **params)
    await setup.open_async()
    try:
        await setup.makedirs_async(flat, ignore_existing=True)
        for index in range(files):  # through the server: the benchmark may run against a remote demo
            await setup.putfile_async(local / 'small.txt', f'{flat}/entry-{index:03d}')
        results = []
        for name, budget, operation in operations(local, remote, files):
            results.append((name, budget, *await first_call(params, counters, operation)))
        await setup.rmtree_async(remote)
    finally:
        await setup.close_async()
    return results


def report(
    results: list[tuple[str, str, int, float, dict[str, int]]], verbose: bool, tasks: bool = False
) -> str:
    """The table; with ``tasks`` (v1), a column of the requests that were polls of v1's tasks."""
    if not tasks:
        lines = [f'{"operation":<42} {"requests":>8} {"budget":>7} {"wall time":>10}', '-' * 70]
    else:
        header = (
            f'{"operation":<42} {"requests":>8} {"of which task polls":>20} {"budget":>7} {"wall time":>10}'
        )
        lines = ['FirecREST v1 (requests include the polls of its tasks)', header, '-' * 91]
    for name, budget, requests, elapsed, counted in results:
        polls = f' {counted.get(V1_TASK_POLL, 0):>20}' if tasks else ''
        lines.append(f'{name:<42} {requests:>8}{polls} {budget:>7} {elapsed:>9.2f}s')
        if verbose:
            lines += [f'    {count:>3}  {endpoint}' for endpoint, count in sorted(counted.items())]
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', type=Path, help='JSON of a running demo server (default: start one)')
    parser.add_argument('--files', type=int, default=100, help='files in the tree and entries listed')
    parser.add_argument('--latency', type=float, default=0.0, help='seconds added to every request')
    parser.add_argument(
        '--api', choices=('v2', 'v1'), default='v2', help="the demo server's FirecREST API (default: v2)"
    )
    parser.add_argument(
        '--verbose', action='store_true', help='print the requests of each operation by endpoint'
    )
    options = parser.parse_args()
    if options.config:
        config = json.loads(options.config.read_text())
        results = asyncio.run(measure(config, Counters(config['url']), options.files))
    else:
        from aiida_firecrest.demo.launcher import DemoServer

        root = Path(tempfile.mkdtemp(prefix='firecrest-benchmark-server-'))
        with DemoServer(root=root, api=options.api) as server:
            server.set_switches(latency=options.latency)
            config = server.config
            results = asyncio.run(measure(config, Counters(config['url']), options.files))
    print(report(results, options.verbose, tasks=str(config.get('api_version')) == '1'))


if __name__ == '__main__':
    main()
