"""Fixtures and options shared by the whole suite: one FirecREST server per session, a fresh remote
directory per test, an AiiDA profile and a ``firecrest`` computer, and the in-process fast tier.

Options (see README, "Tests"):

* ``--firecrest-config FILE``: run against the server described by FILE (the JSON written by
  ``python firecrest_demo.py serve --config-out FILE``) instead of starting the demo server;
* ``--firecrest-docker`` (with ``--firecrest-docker-compose FILE`` or ``$FIRECREST_DOCKER_COMPOSE``):
  start FirecREST's official docker demo with pytest-docker and run against it;
* ``--firecrest-requests``: print, at the end, the requests each test made to FirecREST, by endpoint;
* ``--firecrest-scheduler slurm|pbs``: the scheduler of the demo server's system (default slurm); for
  another server, its scheduler when its FILE has no ``scheduler`` key.
* ``--firecrest-server-version=2.2.8|2.4.2|2.5.6|2.6``: the demo server (session, in-process and the
  demo's own tests) answers as that FirecREST release (default ``2.x.x``: as the recorded server).
* ``--firecrest-api v1|v2``: the API the session's demo server speaks (default v2); on v1 only the tests
  that use the session's server run, and the fixtures set up and inspect files through pyfirecrest's v1
  client (``tests/v1_client.py``), as for a v1 server of ``--firecrest-config`` (``"api_version": "1"``).

The AiiDA profile is created lazily: only tests that use ``aiida_profile`` (directly or through
``firecrest_computer``) pay for it.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

# aiida-core's fixtures except the autouse ``aiida_config``, ``aiida_profile``, ``run_aiida_broker_service``:
# the first two are redefined below without autouse, so that a session without AiiDA tests creates no profile.
from aiida.tools.pytest_fixtures import (  # noqa: F401
    aiida_code,
    aiida_code_installed,
    aiida_computer,
    aiida_computer_local,
    aiida_config_factory,
    aiida_config_tmp,
    aiida_localhost,
    aiida_manager,
    aiida_profile_clean,
    aiida_profile_factory,
    aiida_profile_tmp,
    daemon_client,
    entry_points,
    run_aiida_broker_service_for_profile,
    started_daemon_client,
    stopped_daemon_client,
    submit_and_await,
)

from aiida_firecrest.demo.versions import RECORDED, VERSIONS
from tests._harness import (
    DIALECTS,
    DOCKER_DEMO_CONFIG,
    SCHEDULERS,
    SESSION_API,
    DemoHandle,
    HarnessConfigError,
    InProcessDemo,
    JobDialect,
    RemoteFiles,
    RemoteHandle,
    RequestLog,
    dir_name_for,
    docker_engine_problem,
    load_server_config,
    scheduler_of,
    store_firecrest_computer,
)

if TYPE_CHECKING:
    from aiida import orm
    from aiida.manage.configuration.config import Config
    from aiida.manage.configuration.profile import Profile
    from firecrest.v2 import Firecrest

pytest_plugins = ('pytester',)

REQUEST_LOG = pytest.StashKey[RequestLog]()
SERVER_CONFIG = pytest.StashKey['dict[str, Any] | None']()
SERVER_VERSION = pytest.StashKey[str]()
MIN_POLL_INTERVAL = 0.5
"""Seconds between two polls of the firecrest_computer's scheduler."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup('firecrest', 'FirecREST server under test')
    group.addoption(
        '--firecrest-config',
        metavar='FILE',
        default=None,
        help='JSON file describing a FirecREST server to test against (the format of '
        '`firecrest_demo.py serve --config-out`; a v1 server with "api_version": "1"); '
        'default: start the demo server. '
        'Write --firecrest-config=FILE: a separate FILE outside the repository is taken for a test path.',
    )
    group.addoption(
        '--firecrest-requests',
        action='store_true',
        default=False,
        help='At the end, print the requests each test made to FirecREST, by endpoint (demo server only).',
    )
    group.addoption(
        '--firecrest-scheduler',
        choices=SCHEDULERS,
        default='slurm',
        help="The scheduler of the demo server's system (default: slurm); for a server given by "
        '--firecrest-config, its scheduler unless FILE names one (key "scheduler").',
    )
    group.addoption(
        '--firecrest-server-version',
        metavar='RELEASE',
        choices=tuple(VERSIONS),
        default=None,
        help=f'Make the demo server answer as this FirecREST release ({", ".join(VERSIONS)}; '
        f'default {RECORDED}: as the recorded server).',
    )
    group.addoption(
        '--firecrest-api',
        choices=('v1', 'v2'),
        default='v2',
        help='The FirecREST API the demo server of the session speaks (default: v2).',
    )
    group.addoption(
        '--firecrest-docker',
        action='store_true',
        default=False,
        help="Start FirecREST's official docker demo (needs a docker engine and its compose file).",
    )
    group.addoption(
        '--firecrest-docker-compose',
        metavar='FILE',
        default=os.environ.get('FIRECREST_DOCKER_COMPOSE'),
        help="FirecREST's docker-compose.yml for --firecrest-docker (default: $FIRECREST_DOCKER_COMPOSE).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'demo_only: needs the demo server (counters, switches, local files)')
    config.addinivalue_line('markers', 'v2_only(reason): checks what only a FirecREST v2 server does')
    config.stash[REQUEST_LOG] = RequestLog()
    config.stash[SERVER_CONFIG] = _read_config_option(config)
    config.stash[SESSION_API] = '1' if _speaks_v1(config) else '2'
    config.stash[SERVER_VERSION] = _read_server_version_option(config)
    compose = config.getoption('firecrest_docker_compose')
    if config.getoption('firecrest_docker') and not (compose and Path(compose).is_file()):
        raise pytest.UsageError(
            "--firecrest-docker needs FirecREST's docker-compose.yml: pass --firecrest-docker-compose=FILE "
            f'or set FIRECREST_DOCKER_COMPOSE (got {compose!r})'
        )


def _read_config_option(config: pytest.Config) -> dict[str, Any] | None:
    path = config.getoption('firecrest_config')
    if path is None:
        return None
    try:
        return load_server_config(Path(path))
    except HarnessConfigError as exc:
        raise pytest.UsageError(f'--firecrest-config: {exc}') from exc


def _read_server_version_option(config: pytest.Config) -> str:
    version = config.getoption('firecrest_server_version')
    if version is not None and (
        config.stash[SERVER_CONFIG] is not None or config.getoption('firecrest_docker')
    ):
        raise pytest.UsageError(
            '--firecrest-server-version chooses what the demo server answers as; '
            'it has no effect on the server of --firecrest-config or --firecrest-docker'
        )
    return version or RECORDED


def _uses_demo(config: pytest.Config) -> bool:
    return config.stash[SERVER_CONFIG] is None and not config.getoption('firecrest_docker')


def _speaks_v1(config: pytest.Config) -> bool:
    """Whether the session's server speaks FirecREST v1: the v1 demo, or a connection file that says so."""
    details = config.stash[SERVER_CONFIG]
    if details is not None:
        return str(details.get('api_version')) == '1'
    return bool(config.getoption('firecrest_api') == 'v1')


def pytest_report_header(config: pytest.Config) -> str:
    if config.getoption('firecrest_docker'):
        return f'FirecREST: docker demo from {config.getoption("firecrest_docker_compose")}'
    if not _uses_demo(config):
        return f'FirecREST: the server in {config.getoption("firecrest_config")}'
    scheduler = config.getoption('firecrest_scheduler')
    release = (
        'the FirecREST v1 API'
        if config.stash[SESSION_API] == '1'
        else f'release {config.stash[SERVER_VERSION]}'
    )
    return (
        f'FirecREST: demo server as {release}, {scheduler} system '
        '(started once per session, on free 127.0.0.1 ports)'
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--firecrest-api=v1``, only the tests that use the session's server run.

    The others (the demo's own tests, unit tests on scripted answers, the architecture checks) start the
    servers they need themselves or none, so they do the same in every session: ``pytest`` has run them.
    """
    if config.getoption('firecrest_api') != 'v1':
        return
    kept = [item for item in items if 'firecrest_server' in getattr(item, 'fixturenames', ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker('demo_only') and not _uses_demo(item.config):
        pytest.skip('needs the demo server (counters, switches or local files), not a real FirecREST')
    v2_only = item.get_closest_marker('v2_only')
    if v2_only and item.config.stash[SESSION_API] == '1':
        pytest.skip(f'FirecREST v2 only: {v2_only.kwargs.get("reason", "v2 endpoints")}')


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Reset the demo counters right before the test body and, with --firecrest-requests, read them after."""
    counted = _counted_servers(item)
    for server in counted:
        server.reset_counters()
    try:
        return (yield)
    finally:
        if item.config.getoption('firecrest_requests'):
            for server in counted:
                item.config.stash[REQUEST_LOG].record(item.nodeid, server.counters())


def _counted_servers(item: pytest.Item) -> list[DemoHandle | InProcessDemo]:
    """The demo servers (socket or in-process) a test uses, each once, read from its fixture values."""
    funcargs: dict[str, Any] = getattr(item, 'funcargs', {})
    servers = {
        id(value): value for value in funcargs.values() if isinstance(value, (DemoHandle, InProcessDemo))
    }
    return list(servers.values())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption('firecrest_requests'):
        return
    terminalreporter.write_sep('=', 'requests to FirecREST per test')
    if not _uses_demo(config):
        terminalreporter.write_line('(not counted: request counters exist only on the demo server)')
    for line in config.stash[REQUEST_LOG].report_lines():
        terminalreporter.write_line(line)


# ---------------------------------------------------------------------------------------------- servers


@pytest.fixture(scope='session')
def firecrest_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoHandle | RemoteHandle]:
    """The FirecREST v2 server of this session: the demo server unless an option names another."""
    details = request.config.stash[SERVER_CONFIG]
    scheduler = request.config.getoption('firecrest_scheduler')
    if request.config.getoption('firecrest_docker'):
        yield _docker_server(request, details or {})
    elif details is not None:
        details = {'scheduler': scheduler, **details}
        yield RemoteHandle(details, f'the server in {request.config.getoption("firecrest_config")}')
    else:
        from aiida_firecrest.demo.launcher import DemoServer

        root = tmp_path_factory.mktemp('firecrest-demo')
        version = request.config.stash[SERVER_VERSION]
        api = request.config.getoption('firecrest_api')
        with DemoServer(root=root, scheduler=scheduler, server_version=version, api=api) as server:
            yield DemoHandle(server)


def _docker_server(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> RemoteHandle:
    """FirecREST's docker demo, started by pytest-docker's ``docker_services`` and waited for.

    :param overrides: connection details that replace the demo's defaults (from ``--firecrest-config``).
    """
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f'--firecrest-docker: no usable docker engine here ({problem})')
    services = request.getfixturevalue('docker_services')
    details = {**DOCKER_DEMO_CONFIG, **overrides}
    services.wait_until_responsive(
        check=lambda: _answers(f'{details["url"]}/status/liveness/'), timeout=600, pause=2
    )
    return RemoteHandle(details, "FirecREST's docker demo")


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope='session')
def docker_compose_file(pytestconfig: pytest.Config) -> str:
    """pytest-docker's compose file: FirecREST's own, from --firecrest-docker-compose."""
    return str(Path(pytestconfig.getoption('firecrest_docker_compose') or 'docker-compose.yml').resolve())


@pytest.fixture(autouse=True, scope='session')
def lost_submission_marks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Lost submissions of this test process are marked in a directory of the session, not in ~/.aiida."""
    from aiida_firecrest.job_notes import LOST_SUBMISSIONS

    directory = tmp_path_factory.mktemp('lost-submissions')
    default, LOST_SUBMISSIONS.marks = LOST_SUBMISSIONS.marks, lambda: directory
    yield directory
    LOST_SUBMISSIONS.marks = default


@pytest.fixture(scope='session')
def api(pytestconfig: pytest.Config) -> str:
    """The FirecREST API of the session's server, ``'1'`` or ``'2'``, where what a test expects differs."""
    return pytestconfig.stash[SESSION_API]


@pytest.fixture(scope='session')
def job_dialect(firecrest_server: DemoHandle | RemoteHandle) -> JobDialect:
    """How to write job scripts for the session's scheduler (Slurm or PBS) and what its records say."""
    return DIALECTS[scheduler_of(firecrest_server.config)]


@pytest.fixture(scope='session')
def demo_server_version(pytestconfig: pytest.Config) -> str:
    """The FirecREST release the demo server of this session answers as (``--firecrest-server-version``)."""
    return pytestconfig.stash[SERVER_VERSION]


@pytest.fixture
def demo_only(firecrest_server: DemoHandle | RemoteHandle) -> DemoHandle:
    """The demo server; skips the test (with the reason) on any other server."""
    if not isinstance(firecrest_server, DemoHandle):
        pytest.skip(
            f'needs the demo server (counters, switches or local files), not {firecrest_server.description}'
        )
    return firecrest_server


@pytest.fixture(scope='session')
def firecrest_sync(firecrest_server: DemoHandle | RemoteHandle) -> Iterator[Firecrest]:
    """pyfirecrest's sync client on the session's server, to set up and clean up independently of our code.

    It also creates the server's ``workdir`` and ``temp_directory`` if they are missing.
    """
    from firecrest import ClientCredentialsAuth
    from firecrest.v2 import Firecrest

    from aiida_firecrest.secrets import resolve_secret

    config = firecrest_server.config
    auth = ClientCredentialsAuth(
        config['client_id'],
        resolve_secret(str(config['client_secret'])),
        config['token_uri'],
        min_token_validity=60,
    )
    auth.timeout = 60
    client: Firecrest
    if str(config.get('api_version')) == '1':
        from tests.v1_client import V1SetupClient

        client = V1SetupClient(config['url'], auth)  # type: ignore[assignment]
    else:
        client = Firecrest(firecrest_url=config['url'], authorization=auth)
        client.timeout = 60
        client.num_retries_rate_limit = 5
    for key in ('workdir', 'temp_directory'):
        client.mkdir(config['compute_resource'], config[key], create_parents=True)
    yield client
    client.close_session()


@pytest.fixture
def remote_dir(
    request: pytest.FixtureRequest, firecrest_server: DemoHandle | RemoteHandle, firecrest_sync: Firecrest
) -> Iterator[PurePosixPath]:
    """A fresh, empty directory on the server in its ``workdir``, named after the test, removed after it."""
    config = firecrest_server.config
    system = config['compute_resource']
    path = PurePosixPath(config['workdir']) / dir_name_for(request.node.name)
    firecrest_sync.mkdir(system, str(path), create_parents=True)
    yield path
    _remove_remote_dir(firecrest_sync, firecrest_server, path)


@pytest.fixture
def remote_files(
    firecrest_sync: Firecrest,
    firecrest_server: DemoHandle | RemoteHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> RemoteFiles:
    """Set up and inspect files on the server with pyfirecrest (any server: no local-disk access)."""
    return RemoteFiles(
        firecrest_sync, firecrest_server.config['compute_resource'], tmp_path_factory.mktemp('remote-files')
    )


def _remove_remote_dir(client: Firecrest, server: DemoHandle | RemoteHandle, path: PurePosixPath) -> None:
    from firecrest import FirecrestException

    try:
        client.rm(
            server.config['compute_resource'], str(path), account=server.config.get('billing_account') or None
        )
    except FirecrestException as exc:
        if isinstance(server, DemoHandle):
            shutil.rmtree(path, ignore_errors=True)
        else:
            warnings.warn(
                f'could not remove the test directory {path} on {server.description}: {exc}', stacklevel=1
            )


# ---------------------------------------------------------------------------------------------- AiiDA


@pytest.fixture(scope='session')
def aiida_config(
    tmp_path_factory: pytest.TempPathFactory,
    aiida_config_factory: Any,  # noqa: F811
) -> Iterator[Config]:
    """A temporary AiiDA configuration directory (aiida-core's fixture, created only when a test needs it)."""
    directory = tmp_path_factory.mktemp('aiida-config')
    (directory / '.aiida').mkdir()  # exists already: aiida-core does not warn that it creates it
    with aiida_config_factory(directory) as config:
        yield config


@pytest.fixture(scope='session')
def aiida_profile(aiida_config: Config, aiida_profile_factory: Any) -> Iterator[Profile]:  # noqa: F811
    """A temporary AiiDA profile, ``core.sqlite_dos`` storage and no broker (created only when needed)."""
    with aiida_profile_factory(aiida_config) as profile:
        yield profile


@pytest.fixture(scope='session')
def client_secret_file(
    firecrest_server: DemoHandle | RemoteHandle, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The client secret as a computer stores it: a reference (``env:VAR``, a file path) or a 0600 file."""
    stored = str(firecrest_server.config['client_secret'])
    if os.path.isabs(stored) or stored.startswith('env:'):
        return stored
    path = tmp_path_factory.mktemp('secret') / 'client-secret'
    path.touch(mode=0o600)
    path.write_text(stored)
    return str(path)


@pytest.fixture
def transport_params(firecrest_server: DemoHandle | RemoteHandle, client_secret_file: str) -> dict[str, Any]:
    """Options for ``computer.configure(**params)`` or ``FirecrestTransport(**params)`` on this server.

    Only the connection options come from the server's description; the others (thresholds, concurrency,
    checksums) keep the plugin's defaults.
    """
    from aiida_firecrest.config import AUTH_OPTIONS

    config = firecrest_server.config
    params = {name: config[name] for name, _ in AUTH_OPTIONS if name in config}
    params['client_secret'] = client_secret_file
    return params


@pytest.fixture
def firecrest_computer(
    aiida_profile: Profile,
    firecrest_server: DemoHandle | RemoteHandle,
    transport_params: dict[str, Any],
    remote_dir: PurePosixPath,
    job_dialect: JobDialect,
) -> orm.Computer:
    """A stored computer with the ``firecrest`` transport and the scheduler plugin of the session's server.

    Its work directory is this test's ``remote_dir``; jobs are polled every :data:`MIN_POLL_INTERVAL` seconds
    and the transport may be opened again at once (safe interval 0).
    """
    hostname = urlparse(firecrest_server.config['url']).hostname or 'localhost'
    label = f'firecrest-{remote_dir.name}'
    description = f'FirecREST test computer on {firecrest_server.description}'
    computer: orm.Computer = store_firecrest_computer(
        label,
        hostname,
        str(remote_dir),
        transport_params,
        MIN_POLL_INTERVAL,
        description,
        job_dialect.entry_point,
    )
    return computer


# ---------------------------------------------------------------------------------------------- fast tier


@pytest.fixture
def asgi_transport(
    request: pytest.FixtureRequest, tmp_path: Path, demo_server_version: str
) -> Iterator[InProcessDemo]:
    """The fast tier: an ``httpx.AsyncBaseTransport`` calling a fresh in-process demo app (no sockets, no S3).

    Its system has the scheduler of ``--firecrest-scheduler``.

    It also carries ``.settings`` (flip switches in-process), ``.config`` (connection details with a
    placeholder URL), ``.state`` and ``.counters()`` / ``.reset_counters()``.
    """
    from aiida_firecrest.demo.settings import DemoSettings

    scheduler = request.config.getoption('firecrest_scheduler')
    settings = DemoSettings.for_release(
        demo_server_version, root=tmp_path / 'firecrest-demo', scheduler=scheduler
    )
    transport = InProcessDemo(settings)
    yield transport
    transport.shutdown()


@pytest.fixture(autouse=True)
def _open_rate_limit_gates() -> Iterator[None]:
    """Every test starts and ends as a new process would: no server's rate-limit gate closed by a 429."""
    from aiida_firecrest.ratelimit import clear_rate_limits

    clear_rate_limits()
    yield
    clear_rate_limits()
