"""The demo launcher: ``DemoServer`` and ``firecrest_demo.py serve`` start, describe and stop cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aiida_firecrest.demo.launcher import DemoServer

REPO = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {
    'url',
    'token_uri',
    'client_id',
    'client_secret',
    'compute_resource',
    'temp_directory',
    'workdir',
    'billing_account',
    'home',
    'max_ops_file_size',
}


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2.0)
    except httpx.TransportError:
        return False
    return True


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope='module')
def demo_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


def test_config_has_the_contract_keys(demo_server: DemoServer) -> None:
    assert set(demo_server.config) >= CONTRACT_KEYS


def test_config_names_the_token_endpoint_under_the_url(demo_server: DemoServer) -> None:
    config = demo_server.config
    assert config['token_uri'] == f'{config["url"]}/oauth2/token'
    assert config['url'].startswith('http://127.0.0.1:')


@pytest.mark.parametrize('key', ['temp_directory', 'workdir', 'home'])
def test_config_directories_are_absolute_writable_and_inside_the_file_systems(
    demo_server: DemoServer, key: str
) -> None:
    path = Path(demo_server.config[key])
    roots = (demo_server.settings.home_root, demo_server.settings.scratch_root)
    assert path.is_absolute()
    assert path.is_dir()
    assert os.access(path, os.W_OK)
    assert any(path.is_relative_to(root) for root in roots)


def test_both_endpoints_answer(demo_server: DemoServer) -> None:
    assert _answers(demo_server.url)
    assert _answers(demo_server.config['s3_endpoint'])


def test_counters_count_firecrest_requests_until_reset(demo_server: DemoServer) -> None:
    config = demo_server.config
    form = {
        'grant_type': 'client_credentials',
        'client_id': config['client_id'],
        'client_secret': config['client_secret'],
    }
    token = httpx.post(config['token_uri'], data=form, timeout=10).json()['access_token']
    demo_server.reset_counters()
    httpx.get(f'{config["url"]}/status/systems', headers={'Authorization': f'Bearer {token}'}, timeout=10)
    assert demo_server.counters() == {'GET /status/systems': 1}
    demo_server.reset_counters()
    assert demo_server.counters() == {}


def test_switches_change_live_and_are_reported(demo_server: DemoServer) -> None:
    assert demo_server.set_switches(job_not_found_for=2.5)['job_not_found_for'] == 2.5
    assert demo_server.set_switches(job_not_found_for=0)['job_not_found_for'] == 0


def test_stop_leaves_no_process_and_no_temporary_root() -> None:
    server = DemoServer().start()
    pids, root = server.pids, server.settings.root
    server.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not root.exists()


def test_stop_twice_is_harmless() -> None:
    server = DemoServer().start()
    server.stop()
    server.stop()
    assert server.pids == []


def _start_serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    config_file = tmp_path / 'demo.json'
    process = subprocess.Popen(
        [sys.executable, str(REPO / 'firecrest_demo.py'), 'serve', '--config-out', str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert _wait_until(config_file.exists, timeout=60), 'serve wrote no config file'
    return process, json.loads(config_file.read_text())


@pytest.mark.parametrize('stop_signal', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'Ctrl-C'])
def test_serve_writes_a_config_that_connects_and_stops_on_a_signal(tmp_path: Path, stop_signal: int) -> None:
    process, config = _start_serve(tmp_path)
    assert set(config) >= CONTRACT_KEYS
    assert _answers(str(config['url']))
    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert str(config['url']).encode() in output
    assert not _answers(str(config['url']))
    assert not _answers(str(config['s3_endpoint']))
    assert not Path(str(config['home'])).exists()


def test_children_of_a_killed_serve_exit_by_themselves(tmp_path: Path) -> None:
    process, config = _start_serve(tmp_path)
    process.kill()
    process.wait(timeout=10)
    assert _wait_until(lambda: not _answers(str(config['url'])), timeout=15)
    assert _wait_until(lambda: not _answers(str(config['s3_endpoint'])), timeout=15)
    root = Path(str(config['home'])).parent.parent  # <root>/home/<user>
    assert root.name.startswith('firecrest-demo-'), root
    shutil.rmtree(root)


@pytest.mark.parametrize(('argv', 'scheduler'), [([], 'slurm'), (['--scheduler', 'pbs'], 'pbs')])
def test_no_command_runs_the_walkthrough(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], scheduler: str
) -> None:
    import firecrest_demo
    from aiida_firecrest.demo import walkthrough

    calls: list[str] = []
    monkeypatch.setattr(walkthrough, 'main', calls.append)
    firecrest_demo.main(argv)
    assert calls == [scheduler]


def test_serve_passes_the_scheduler_release_and_method_to_the_demo_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import firecrest_demo

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(firecrest_demo, 'serve', lambda *args: calls.append(args))
    firecrest_demo.main(['serve', '--scheduler', 'pbs', '--port', '5000'])
    firecrest_demo.main(['serve', '--server-version', '2.5.6', '--transfer-method', 'streamer'])
    firecrest_demo.main(['--api', 'v1', 'serve'])
    assert calls == [
        (5000, None, 'pbs', '2.x.x', 's3', 'v2'),
        (0, None, 'slurm', '2.5.6', 'streamer', 'v2'),
        (0, None, 'slurm', '2.x.x', 's3', 'v1'),
    ]


def test_a_pbs_demo_names_its_system_and_scheduler_in_the_connection_details(tmp_path: Path) -> None:
    config = DemoServer(root=tmp_path, scheduler='pbs').config
    assert (config['compute_resource'], config['scheduler']) == ('cluster-pbs', 'pbs')
