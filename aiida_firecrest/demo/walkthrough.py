"""What ``python firecrest_demo.py`` (no arguments) runs: a real AiiDA CalcJob through FirecREST.

Everything is temporary and local: a demo FirecREST v2 server on 127.0.0.1 (its system runs Slurm,
or PBS), a throwaway AiiDA profile (SQLite, no broker) in a temporary directory, a computer using the
``firecrest`` transport and scheduler (``firecrest.pbs`` on PBS), and one ``core.arithmetic.add``
calculation run with ``/bin/bash`` on the "cluster".
Each step is printed, then the result, the requests sent to FirecREST and the time taken; at the
end everything is removed again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from aiida import orm
    from aiida.manage.configuration.config import Config
    from aiida.manage.configuration.profile import Profile

    from .launcher import DemoServer

AIIDA_PATH = 'AIIDA_PATH'
"""The environment variable naming AiiDA's configuration directory."""
X, Y = 17, 25
"""The numbers the demo calculation adds."""
POLL_INTERVAL = 1.0
"""Seconds between two polls of the demo computer's scheduler."""


def say(message: str) -> None:
    """Print one line of the walkthrough (flushed, so that it shows while the next step runs)."""
    print(message, flush=True)


def step(number: int, message: str) -> None:
    say(f'\n[{number}] {message}')


@contextlib.contextmanager
def throwaway_profile(
    directory: Path, broker: str | None = None, options: Mapping[str, Any] | None = None
) -> Iterator[Profile]:
    """A new AiiDA configuration in ``directory`` with one SQLite profile, loaded.

    ``AIIDA_PATH`` points there before AiiDA is first imported, so that nothing is written to
    ``~/.aiida``; the configuration in use before (if any) is restored afterwards.

    :param broker: the profile's broker backend (none by default; ``core.zeromq`` for a daemon).
    :param options: profile options to set, beside the development-version warning switched off.
    """
    config_dir = directory / '.aiida'
    previous_path = os.environ.get(AIIDA_PATH)
    os.environ[AIIDA_PATH] = str(config_dir)
    with _quiet_config_creation():
        from aiida.manage.configuration.settings import AiiDAConfigDir

    previous_dir = AiiDAConfigDir.get()
    try:
        with (
            _aiida_config(config_dir) as config,
            _new_profile(config, directory / 'storage', broker, options or {}) as profile,
        ):
            yield profile
    finally:
        if previous_path is None:
            os.environ.pop(AIIDA_PATH, None)
        else:
            os.environ[AIIDA_PATH] = previous_path
        if previous_dir != config_dir:
            AiiDAConfigDir.set(previous_dir)


@contextlib.contextmanager
def _quiet_config_creation() -> Iterator[None]:
    """Silence AiiDA's warning that it creates a configuration folder: here that is the intent."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Creating AiiDA configuration folder')
        yield


@contextlib.contextmanager
def _aiida_config(config_dir: Path) -> Iterator[Config]:
    from aiida.manage import configuration
    from aiida.manage.configuration.settings import AiiDAConfigDir

    reset_config = cast('Callable[[], None]', configuration.reset_config)  # untyped in aiida-core
    reset_config()
    with _quiet_config_creation():
        AiiDAConfigDir.set(config_dir)
    try:
        yield configuration.get_config(create=True)
    finally:
        reset_config()


@contextlib.contextmanager
def _new_profile(
    config: Config, storage: Path, broker: str | None, options: Mapping[str, Any]
) -> Iterator[Profile]:
    from aiida.manage import get_manager
    from aiida.manage.configuration import create_profile, profile_context

    profile = create_profile(
        config,
        name='firecrest-demo',
        email='demo@localhost',
        storage_backend='core.sqlite_dos',
        storage_config={'filepath': str(storage)},
        broker_backend=broker,
    )
    # untyped in aiida-core: their signatures as used here
    set_option = cast('Callable[[str, Any], None]', profile.set_option)
    set_default_profile = cast('Callable[[str], None]', config.set_default_profile)
    store = cast('Callable[[], Config]', config.store)
    set_option('warnings.development_version', False)
    for name, value in options.items():
        set_option(name, value)
    set_default_profile(profile.name)
    store()
    with profile_context(profile, allow_switch=True):
        try:
            yield profile
        finally:
            get_manager().reset_profile()


def write_secret(directory: Path, secret: str) -> Path:
    """The client secret in a file only the user can read: how a computer should store it."""
    path = directory / 'client-secret'
    path.touch(mode=0o600)
    path.write_text(secret)
    return path


def scheduler_plugin(server_config: dict[str, Any]) -> str:
    """The scheduler plugin for the server's system (``firecrest``, or ``firecrest.pbs`` on PBS)."""
    from aiida_firecrest.capabilities import SCHEDULER_ENTRY_POINTS

    return SCHEDULER_ENTRY_POINTS[server_config.get('scheduler') or 'slurm']


def setup_computer(server_config: dict[str, Any], secret_file: Path) -> orm.Computer:
    """``verdi computer setup`` + ``configure`` for the demo server, through AiiDA's API."""
    from aiida import orm

    computer = orm.Computer(
        label='firecrest-demo',
        hostname='localhost',
        description='The demo FirecREST server started by this walkthrough',
        transport_type='firecrest',
        scheduler_type=scheduler_plugin(server_config),
        workdir=server_config['workdir'],
    ).store()
    computer.set_minimum_job_poll_interval(POLL_INTERVAL)
    computer.set_default_mpiprocs_per_machine(1)
    computer.configure(
        url=server_config['url'],
        token_uri=server_config['token_uri'],
        client_id=server_config['client_id'],
        client_secret=str(secret_file),
        compute_resource=server_config['compute_resource'],
        temp_directory=server_config['temp_directory'],
        billing_account=server_config.get('billing_account') or '',
        safe_interval=0,
        api_version=str(server_config.get('api_version', '2')),
    )
    return computer


def run_addition(computer: orm.Computer) -> orm.CalcJobNode:
    """Run ``core.arithmetic.add`` (X + Y, computed by bash on the cluster) and wait for it."""
    from aiida import engine, orm
    from aiida.calculations.arithmetic.add import ArithmeticAddCalculation

    code = orm.InstalledCode(
        computer=computer,
        filepath_executable='/bin/bash',
        label='bash',
        description='bash on the demo cluster',
    ).store()
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 120}
    integer = cast('Callable[[int], orm.Int]', orm.Int)  # its constructor is untyped in aiida-core
    _, node = engine.run_get_node(
        ArithmeticAddCalculation, code=code, x=integer(X), y=integer(Y), metadata={'options': options}
    )
    return cast('orm.CalcJobNode', node)


def describe_requests(counters: dict[str, int]) -> list[str]:
    """One line per FirecREST endpoint, most used first."""
    ordered = sorted(counters.items(), key=lambda item: (-item[1], item[0]))
    return [f'      {count:3d}  {endpoint}' for endpoint, count in ordered]


def report_calculation(node: orm.CalcJobNode, counters: dict[str, int], seconds: float) -> bool:
    """Print the calculation's outcome and cost; True if it computed X + Y."""
    total = node.outputs.sum.value if 'sum' in node.outputs else None
    state = node.process_state.value if node.process_state else 'unknown'
    say(f'    process state: {state}, exit status: {node.exit_status}')
    say(f'    FirecREST job id: {node.get_job_id()}, remote directory: {node.get_remote_workdir()}')
    say(f'    result: {X} + {Y} = {total}')
    requests = sum(counters.values())
    say(f'    requests to FirecREST: {requests} (upload, submit, polls, retrieve) in {seconds:.1f} s:')
    for line in describe_requests(counters):
        say(line)
    return bool(node.is_finished_ok and total == X + Y)


def tour(workspace: Path, scheduler: str = 'slurm', api: str = 'v2') -> bool:
    """All the steps, inside ``workspace``, on a ``scheduler`` system; True if the calculation added up."""
    from .launcher import DemoServer

    step(
        1,
        f'Starting a demo FirecREST {api} server (API, token endpoint, S3; {scheduler} system) on 127.0.0.1',
    )
    with DemoServer(root=workspace / 'cluster', scheduler=scheduler, api=api) as server:
        say(f'    FirecREST API at {server.url}, system {server.config["compute_resource"]!r}')
        return tour_with_server(server, workspace)


def tour_with_server(server: DemoServer, workspace: Path) -> bool:
    """Steps 2 to 5, on a running demo server: profile, computer, the CalcJob and its report."""
    step(2, f'Creating a throwaway AiiDA profile (SQLite, no broker) in {workspace / "aiida"} ...')
    with throwaway_profile(workspace / 'aiida') as profile:
        say(f'    profile {profile.name!r} loaded')
        plugin = scheduler_plugin(server.config)
        step(3, f"Setting up the computer 'firecrest-demo': transport 'firecrest', scheduler {plugin!r} ...")
        secret_file = write_secret(workspace, str(server.config['client_secret']))
        computer = setup_computer(server.config, secret_file)
        say(f'    configured for {server.config["url"]}, work directory {computer.get_workdir()}')
        step(
            4, f'Running core.arithmetic.add ({X} + {Y}) with /bin/bash on the cluster, through FirecREST ...'
        )
        server.reset_counters()
        started = time.monotonic()
        node = run_addition(computer)
        seconds = time.monotonic() - started
        step(5, f'CalcJob<{node.pk}> finished')
        return report_calculation(node, server.counters(), seconds)


def main(scheduler: str = 'slurm', api: str = 'v2') -> None:
    """Run the walkthrough on a ``scheduler`` (slurm or pbs) system and clean up; exit with status 1
    if the calculation did not give X + Y."""
    started = time.monotonic()
    say('aiida-firecrest walkthrough: a real AiiDA calculation through a (local, demo) FirecREST server')
    with tempfile.TemporaryDirectory(prefix='aiida-firecrest-walkthrough-') as workspace:
        succeeded = tour(Path(workspace), scheduler, api)
    step(6, 'Cleaned up: demo server stopped, profile and all temporary files removed.')
    say(f'\n{"Done" if succeeded else "FAILED"} in {time.monotonic() - started:.1f} s.')
    if not succeeded:
        sys.exit(1)
