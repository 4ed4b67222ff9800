"""Start and stop a complete demo FirecREST server: moto (S3) and the API, each in its own process.

``DemoServer`` is what tests, benchmarks and ``firecrest_demo.py serve`` use::

    with DemoServer() as server:
        server.config  # url, token_uri, client_id, client_secret, compute_resource, ...

Each child binds a free port on 127.0.0.1 itself and reports it through a small "ready file",
so no port is ever guessed. Children run in their own process groups; ``stop()`` (also called at
interpreter exit) terminates the groups and waits, so nothing is left running. A child whose
launcher was killed exits by itself; everything the launcher wrote (file systems, job spool,
ready files and logs) is under the server's root, so removing that one directory cleans up.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .settings import DemoSettings

START_TIMEOUT = 60.0
"""Seconds to wait for a child to answer after it was started."""
STOP_TIMEOUT = 10.0
"""Seconds a child gets to exit after SIGTERM before it is killed."""


def write_ready_file(path: Path, data: dict[str, Any]) -> None:
    """Atomically write ``data`` as JSON to ``path`` (how a child tells the launcher it listens)."""
    partial = path.with_name(path.name + '.partial')
    partial.write_text(json.dumps(data))
    partial.replace(path)


def exit_with_parent(interval: float = 1.0) -> None:
    """In a child: SIGTERM this process once its parent (the launcher) is gone, even if it was killed."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name='exit-with-parent', daemon=True).start()


WORK_DIRECTORIES = ('aiida-tmp', 'aiida-work')
"""Directories in the user's scratch that the connection details propose as temp and work directory."""


def connection_details(settings: DemoSettings, url: str) -> dict[str, Any]:
    """The contract keys of a ``--config-out`` file for a demo with ``settings`` served at ``url``."""
    temp_directory, workdir = (settings.scratch / name for name in WORK_DIRECTORIES)
    return {
        'url': url,
        'token_uri': f'{url}/oauth2/token',
        'client_id': settings.client_id,
        'client_secret': settings.client_secret,
        'compute_resource': settings.system_name,
        'temp_directory': str(temp_directory),
        'workdir': str(workdir),
        'billing_account': settings.account,
        'home': str(settings.home),
        'max_ops_file_size': settings.max_ops_file_size,
        'scheduler': settings.scheduler,
    }


class DemoServerError(RuntimeError):
    """A part of the demo server did not start."""


class _Child:
    """One server process in its own process group, with its output in a log file."""

    def __init__(self, name: str, args: list[str], state_dir: Path) -> None:
        self.name = name
        self.ready_file = state_dir / f'{name}.ready'
        self.log_file = state_dir / f'{name}.log'
        with self.log_file.open('wb') as log:
            self.process = subprocess.Popen(
                [sys.executable, '-m', *args, '--ready-file', str(self.ready_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_port(self, deadline: float) -> int:
        """The port the child reports, once it has bound it."""
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                raise DemoServerError(f'{self.name} exited with {self.process.returncode}: {self.log_tail()}')
            if time.monotonic() > deadline:
                raise DemoServerError(f'{self.name} did not start in time: {self.log_tail()}')
            time.sleep(0.05)
        return int(json.loads(self.ready_file.read_text())['port'])

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_file.read_text(errors='replace')[-chars:]

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it does not exit in time, reap the process."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
                break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _wait_http(url: str, deadline: float, child: _Child) -> None:
    """Wait until ``url`` gives any HTTP answer."""
    while True:
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise DemoServerError(f'{child.name} does not answer at {url}: {child.log_tail()}') from None
            time.sleep(0.05)


class DemoServer:
    """A demo FirecREST v2 server with its S3 endpoint, running in subprocesses on 127.0.0.1.

    :param root: directory that holds the server's file systems (``home``, ``scratch``); a fresh
        temporary directory (removed by ``stop()``) when None.
    :param port: the API's TCP port; 0 picks a free one.
    :param server_version: the FirecREST release the server answers as (see :mod:`.versions`).
    :param api: ``v2``, or ``v1`` for FirecREST v1's API (:mod:`.v1`; its connection details say
        ``api_version: 1``).
    :param settings_overrides: fields of :class:`DemoSettings` to change (after those the release
        implies). Passing ``s3_endpoint`` (even None) uses that instead of starting moto.
    :raises ValueError: for a release the demo cannot be.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int = 0,
        server_version: str = '2.x.x',
        api: str = 'v2',
        **settings_overrides: Any,
    ) -> None:
        self.api = api
        self._own_root = root is None
        root = Path(tempfile.mkdtemp(prefix='firecrest-demo-')) if root is None else Path(root)
        try:
            self.settings = DemoSettings.for_release(
                server_version, root=root.resolve(), **settings_overrides
            )
        except ValueError:
            if self._own_root:
                shutil.rmtree(root, ignore_errors=True)
            raise
        self._start_s3 = 's3_endpoint' not in settings_overrides
        self._port = port
        self._children: list[_Child] = []
        self._state_dir: Path | None = None
        self.url = ''

    @property
    def config(self) -> dict[str, Any]:
        """Connection details, the JSON of ``--config-out`` / ``--firecrest-config``."""
        return {
            **connection_details(self.settings, self.url),
            'scratch': str(self.settings.scratch),
            's3_endpoint': self.settings.s3_endpoint,
            'demo': True,
            'server_version': self.settings.server_version,
            **({'api_version': '1', 'server_version': '1.16.0'} if self.api == 'v1' else {}),
        }

    def start(self) -> DemoServer:
        """Start moto and the API, and wait until both answer."""
        if self._children:
            return self
        atexit.register(self.stop)
        # Inside the root, so that removing the root of a killed launcher removes everything.
        self.settings.root.mkdir(parents=True, exist_ok=True)
        self._state_dir = Path(tempfile.mkdtemp(prefix='launcher-', dir=self.settings.root))
        try:
            self._start_children(self._state_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_children(self, state_dir: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        if self._start_s3:
            moto = self._spawn('s3', ['aiida_firecrest.demo.s3'], state_dir)
            s3_url = f'http://127.0.0.1:{moto.wait_port(deadline)}'
            _wait_http(s3_url, deadline, moto)
            self.settings.s3_endpoint = s3_url
        self.settings.create_directories()
        for name in WORK_DIRECTORIES:
            (self.settings.scratch / name).mkdir(exist_ok=True)
        settings_file = state_dir / 'settings.json'
        settings_file.write_text(json.dumps(self.settings.to_json()))
        args = [
            'aiida_firecrest.demo.serve',
            str(settings_file),
            '--port',
            str(self._port),
            '--api',
            self.api,
        ]
        api = self._spawn('api', args, state_dir)
        self.url = f'http://127.0.0.1:{api.wait_port(deadline)}'
        _wait_http(f'{self.url}/status/liveness/', deadline, api)

    def _spawn(self, name: str, args: list[str], state_dir: Path) -> _Child:
        child = _Child(name, args, state_dir)
        self._children.append(child)
        return child

    def stop(self) -> None:
        """Stop the API, then moto; remove the temporary directories. Safe to call twice."""
        for child in reversed(self._children):
            child.stop()
        self._children.clear()
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None
        if self._own_root:
            shutil.rmtree(self.settings.root, ignore_errors=True)
        atexit.unregister(self.stop)

    @property
    def pids(self) -> list[int]:
        """Process ids of the running children (for checks that nothing is left behind)."""
        return [child.process.pid for child in self._children]

    def counters(self) -> dict[str, int]:
        """Requests per FirecREST endpoint since the last reset."""
        counters: dict[str, int] = self._admin('GET', '/_demo/counters').json()
        return counters

    def reset_counters(self) -> None:
        self._admin('DELETE', '/_demo/counters')

    def set_switches(self, **switches: Any) -> dict[str, Any]:
        """Change switches live (``latency``, ``faults``, ``job_not_found_for``); the switches in force."""
        self._admin('PUT', '/_demo/switches', json=switches)
        current: dict[str, Any] = self._admin('GET', '/_demo/switches').json()
        return current

    def _admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(method, f'{self.url}{path}', timeout=10.0, **kwargs)
        response.raise_for_status()
        return response

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
