"""The test harness itself: the session's server, fresh remote directories, counters, options."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from tests._harness import REQUIRED_KEYS, DemoHandle, InProcessDemo, JobDialect, RequestLog, dir_name_for

CONFTEST = 'from tests.conftest import *  # noqa: F403\npytest_plugins = ()\n'
"""An inner pytest session (pytester) with this suite's options and fixtures."""


def test_server_answers_with_the_system_of_its_connection_details(
    firecrest_server: Any, firecrest_sync: Any
) -> None:
    names = [system['name'] for system in firecrest_sync.systems()]
    assert firecrest_server.config['compute_resource'] in names


def test_remote_dir_is_empty_absolute_and_named_after_the_test(
    remote_dir: PurePosixPath, firecrest_sync: Any, firecrest_server: Any
) -> None:
    system = firecrest_server.config['compute_resource']
    assert remote_dir.parent == PurePosixPath(firecrest_server.config['workdir'])
    assert remote_dir.is_absolute()
    assert remote_dir.name.rsplit('-', 1)[0] == 'test_remote_dir_is_empty_absolute_and_named_after_the_test'
    assert firecrest_sync.list_files(system, str(remote_dir)) == []


@pytest.mark.parametrize('name', ['first', 'second'])
def test_remote_dirs_differ_between_tests(
    name: str, remote_dir: PurePosixPath, firecrest_sync: Any, firecrest_server: Any
) -> None:
    """Each run finds its directory empty although the other parameter wrote a file of the same name."""
    system = firecrest_server.config['compute_resource']
    assert firecrest_sync.list_files(system, str(remote_dir)) == []
    firecrest_sync.mkdir(system, str(remote_dir / 'made-by-the-test'))


def test_remote_dir_is_removed_after_the_test(pytester: pytest.Pytester, demo_only: DemoHandle) -> None:
    """An inner session on the same server (through --firecrest-config) leaves no directory behind."""
    config = pytester.path / 'server.json'
    config.write_text(json.dumps(demo_only.config))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_keep(remote_dir):
            open('remote_dir.txt', 'w').write(str(remote_dir))
        """
    )
    pytester.runpytest_inprocess('--firecrest-config', str(config)).assert_outcomes(passed=1)
    assert not Path((pytester.path / 'remote_dir.txt').read_text()).exists()


@pytest.mark.parametrize('run', [1, 2])
def test_counters_start_at_zero_in_every_test(run: int, demo_only: DemoHandle, firecrest_sync: Any) -> None:
    """The harness resets the counters before each test body, so the second run starts at zero too."""
    assert demo_only.counters() == {}
    firecrest_sync.systems()
    assert demo_only.counters() == {'GET /status/systems': 1}


def test_switches_are_restored_after_the_block(demo_only: DemoHandle) -> None:
    with demo_only.switches(latency=0.01) as switches:
        assert switches['latency'] == 0.01
    assert demo_only.current_switches()['latency'] == 0.0


def test_transport_params_point_to_a_private_secret_file(transport_params: dict[str, Any]) -> None:
    secret = Path(transport_params['client_secret'])
    assert secret.is_absolute()
    assert secret.stat().st_mode & 0o077 == 0
    assert 'small_file_size_mb' not in transport_params


async def _systems_through(transport: InProcessDemo) -> httpx.Response:
    """``GET /status/systems`` with a fresh token, in-process."""
    config = transport.config
    async with httpx.AsyncClient(transport=transport, base_url=config['url']) as client:
        token = await client.post(
            '/oauth2/token',
            data={
                'grant_type': 'client_credentials',
                'client_id': config['client_id'],
                'client_secret': config['client_secret'],
            },
        )
        headers = {'Authorization': f'Bearer {token.json()["access_token"]}'}
        return await client.get('/status/systems', headers=headers)


def test_asgi_transport_serves_the_demo_app_in_process(asgi_transport: InProcessDemo) -> None:
    response = asyncio.run(_systems_through(asgi_transport))
    assert response.status_code == 200
    assert asgi_transport.counters() == {'GET /status/systems': 1}


def test_dir_name_is_safe_and_unique() -> None:
    first, second = dir_name_for('test_x[a/b c]'), dir_name_for('test_x[a/b c]')
    assert first != second
    assert first.startswith('test_x_a_b_c-')


def test_request_log_reports_busiest_endpoint_first() -> None:
    log = RequestLog()
    log.record('t.py::a', {'GET /x': 1, 'POST /y': 3})
    log.record('t.py::b', {})
    log.record('t.py::c', {'GET /x': 1})
    assert log.report_lines() == [
        't.py::a: 4 requests',
        '        3  POST /y',
        '        1  GET /x',
        't.py::c: 1 request',
        '        1  GET /x',
        '2 tests made 5 requests to FirecREST',
    ]


@pytest.mark.parametrize('missing', REQUIRED_KEYS)
def test_config_file_without_a_required_key_is_a_usage_error(pytester: pytest.Pytester, missing: str) -> None:
    config = {key: f'/{key}' for key in REQUIRED_KEYS}
    del config[missing]
    path = pytester.path / 'server.json'
    path.write_text(json.dumps(config))
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_inprocess('--firecrest-config', str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f'*--firecrest-config*lacks {missing}*'])


def test_config_file_selects_a_remote_server_and_skips_demo_only(pytester: pytest.Pytester) -> None:
    path = pytester.path / 'server.json'
    path.write_text(json.dumps({key: f'/{key}' for key in REQUIRED_KEYS}))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_remote(firecrest_server):
            assert not firecrest_server.is_demo
            assert firecrest_server.config['url'] == '/url'

        def test_needs_demo(demo_only):
            pass

        @pytest.mark.demo_only
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_inprocess('--firecrest-config', str(path), '-rs')
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(['*needs the demo server*'])


def test_docker_mode_skips_with_the_reason_without_a_docker_engine(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = pytester.path / 'docker-compose.yml'
    compose.write_text('services: {}\n')
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile('def test_server(firecrest_server):\n    pass\n')
    monkeypatch.setenv('PATH', str(pytester.mkdir('empty-bin')))
    result = pytester.runpytest_inprocess(
        '--firecrest-docker', '--firecrest-docker-compose', str(compose), '-rs'
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(['*no usable docker engine here (no `docker` executable on PATH)*'])


@pytest.mark.v2_only(reason="FirecREST's docker demo is a v2 server, waited for at /status/liveness/")
def test_docker_mode_brings_the_compose_file_up_then_down(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, firecrest_server: Any
) -> None:
    """pytest-docker drives a stand-in ``docker`` logging its arguments; this session's server is the demo."""
    log = pytester.path / 'docker.log'
    fake_bin = pytester.mkdir('fake-bin')
    (fake_bin / 'docker').write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (fake_bin / 'docker').chmod(0o755)
    monkeypatch.setenv('PATH', f'{fake_bin}:{os.environ["PATH"]}')
    compose = pytester.path / 'docker-compose.yml'
    compose.write_text('services: {}\n')
    config = pytester.path / 'server.json'
    config.write_text(json.dumps(firecrest_server.config))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_server(firecrest_server):
            assert firecrest_server.description == "FirecREST's docker demo"
        """
    )
    options = [f'--firecrest-docker-compose={compose}', f'--firecrest-config={config}']
    pytester.runpytest_inprocess('--firecrest-docker', *options).assert_outcomes(passed=1)
    calls = log.read_text().splitlines()
    assert calls[:2] == ['info', 'compose version']
    assert [call.split(' -p ')[0] for call in calls[2:]] == [f'compose -f {compose}'] * 2
    assert [call.split(' ', 5)[-1] for call in calls[2:]] == ['up --build --wait', 'down -v']


def test_docker_mode_without_a_compose_file_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(CONFTEST)
    monkeypatch.delenv('FIRECREST_DOCKER_COMPOSE', raising=False)
    result = pytester.runpytest_inprocess('--firecrest-docker')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*--firecrest-docker needs FirecREST*'])


def test_requests_option_prints_the_requests_of_each_test(pytester: pytest.Pytester) -> None:
    """Through the in-process tier, so that the inner session starts no server."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import asyncio

        from tests.test_harness import _systems_through

        def test_two_requests(asgi_transport):
            for _ in range(2):
                asyncio.run(_systems_through(asgi_transport))
        """
    )
    result = pytester.runpytest_inprocess('--firecrest-requests')
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ['*requests to FirecREST per test*', '*::test_two_requests: 2 requests', '*2  GET /status/systems']
    )


def test_firecrest_computer_reaches_its_work_directory(
    firecrest_computer: Any, remote_dir: PurePosixPath, job_dialect: JobDialect
) -> None:
    assert (firecrest_computer.transport_type, firecrest_computer.scheduler_type) == (
        'firecrest',
        job_dialect.entry_point,
    )
    assert firecrest_computer.get_workdir() == str(remote_dir)
    with firecrest_computer.get_transport() as transport:
        assert transport.listdir(str(remote_dir)) == []


def test_the_scheduler_option_gives_the_fast_tier_a_pbs_system(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_pbs(asgi_transport):
            config = asgi_transport.config
            assert (config['compute_resource'], config['scheduler']) == ('cluster-pbs', 'pbs')
        """
    )
    pytester.runpytest_inprocess('--firecrest-scheduler=pbs').assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ('in_file', 'option', 'plugin'),
    [
        ({'scheduler': 'pbs'}, [], 'firecrest.pbs'),
        ({}, ['--firecrest-scheduler=pbs'], 'firecrest.pbs'),
        ({}, [], 'firecrest'),
    ],
)
def test_another_servers_scheduler_comes_from_its_file_or_the_option(
    pytester: pytest.Pytester, in_file: dict[str, str], option: list[str], plugin: str
) -> None:
    path = pytester.path / 'server.json'
    path.write_text(json.dumps({**{key: f'/{key}' for key in REQUIRED_KEYS}, **in_file}))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        f"""
        def test_dialect(job_dialect):
            assert job_dialect.entry_point == {plugin!r}
        """
    )
    pytester.runpytest_inprocess('--firecrest-config', str(path), *option).assert_outcomes(passed=1)


@pytest.fixture(scope='module')
def v1_connection_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A FirecREST v1 server's connection file (``firecrest_demo.py serve --api v1 --config-out``)."""
    from aiida_firecrest.demo.launcher import DemoServer

    with DemoServer(root=tmp_path_factory.mktemp('firecrest-v1-config'), api='v1') as server:
        path = tmp_path_factory.mktemp('v1-config') / 'server.json'
        path.write_text(json.dumps(server.config))
        yield path


def test_a_v1_servers_connection_file_runs_the_tests_through_its_api(
    pytester: pytest.Pytester, v1_connection_file: Path
) -> None:
    """The fixtures set up files through v1's endpoints (a file above the direct limit staged), and the
    transport reads them back: what ``--firecrest-config`` does with a real FirecREST v1 server."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import asyncio, os
        from aiida_firecrest.transport import FirecrestTransport

        BIG = os.urandom(6 * 1024 * 1024)  # above the server's 5 MiB direct limit

        def test_files_written_by_the_fixtures_are_read_by_the_transport(
            firecrest_server, remote_dir, remote_files, transport_params, tmp_path
        ):
            assert not firecrest_server.is_demo and transport_params['api_version'] == '1'
            remote_files.write(remote_dir / 'small.txt', 'through /utilities/upload')
            remote_files.write(remote_dir / 'big.bin', BIG)

            async def read_back():
                transport = FirecrestTransport(machine='localhost', safe_interval=0, **transport_params)
                await transport.open_async()
                try:
                    for name in ('small.txt', 'big.bin'):
                        await transport.getfile_async(remote_dir / name, tmp_path / name)
                finally:
                    await transport.close_async()

            asyncio.run(read_back())
            assert (tmp_path / 'small.txt').read_text() == 'through /utilities/upload'
            assert (tmp_path / 'big.bin').read_bytes() == BIG
            assert remote_files.names(remote_dir) == ['big.bin', 'small.txt']
        """
    )
    result = pytester.runpytest_inprocess(f'--firecrest-config={v1_connection_file}')
    result.assert_outcomes(passed=1)
