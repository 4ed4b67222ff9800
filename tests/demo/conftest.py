"""Fixtures for the demo server's own tests: an in-process app and the replay of recorded exchanges.

The ``h1_`` fixtures serve the conformance tests of the status, auth and filesystem endpoints:
``h1_client`` calls a fresh in-process app (no sockets) with a valid token, and
``h1_conformance`` compares a recorded exchange of ``shared/firecrest-v2/exchanges`` with the
demo's answer after mapping the recorded paths and names onto the demo's.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aiida_firecrest.demo.app import create_app
from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import load_exchanges

RECORDED_SAMPLES = '/home/fireuser/samples-fixed001'
TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$')
VOLATILE_VALUE_KEYS = {'lastModified', 'ino', 'dev', 'nlink', 'uid', 'gid', 'atime', 'ctime', 'mtime'}
"""Keys whose values differ from machine to machine: only their types are compared."""
ARCHIVES = ('.gz', '.tar')
"""Archives differ in size from GNU tar's (a regular file's ``size`` is compared otherwise)."""


def exchange_ids(prefixes: list[str]) -> list[tuple[str, int]]:
    """``(file prefix, index)`` of every exchange in these files."""
    return [
        (prefix, index) for prefix in prefixes for index in range(len(load_exchanges(prefix)['exchanges']))
    ]


def other_user() -> str:
    """A user that is not the current one (the recordings' ``chown`` to ``root`` is not permitted)."""
    current = pwd.getpwuid(os.geteuid()).pw_name
    return next(name for name in ('root', 'nobody', 'daemon') if name != current)


class RecordedNames:
    """Maps the recorded paths, user and group onto the demo server's."""

    def __init__(self, settings: DemoSettings, samples: Path) -> None:
        self.settings = settings
        self.paths = {
            RECORDED_SAMPLES: str(samples),
            '/home/fireuser': str(settings.home),
            '/home': str(settings.home_root),
            '/scratch': str(settings.scratch_root),
        }
        self._pattern = re.compile('|'.join(re.escape(path) for path in self.paths))
        self.values = {'fireuser': settings.username, '1001': str(settings.uid), 'root': other_user()}

    def text(self, value: str) -> str:
        return self._pattern.sub(lambda match: self.paths[match.group()], value)

    def body(self, value: Any) -> Any:
        """A recorded request body or query with the demo's paths and names."""
        if isinstance(value, dict):
            return {key: self._field(key, item) for key, item in value.items()}
        if isinstance(value, str):
            return self.text(value)
        return value

    def _field(self, key: str, value: Any) -> Any:
        if key in {'owner', 'group'} and isinstance(value, str):
            mapped = self.values.get(value, value)
            return self.settings.group if key == 'group' and value == 'fireuser' else mapped
        return self.body(value)

    def expected(self, key: str | None, value: str) -> str:
        """A recorded response string as the demo should answer it."""
        if key == 'user' and value in self.values:
            return self.values[value]
        if key == 'group' and value == 'fireuser':
            return self.settings.group
        if key == 'group' and value == '1001':
            return str(self.settings.gid)
        return self.text(value)


class Conformance:
    """Compares a demo answer with a recorded one: same status, keys and types; values where stable."""

    def __init__(self, names: RecordedNames, exact_keys: set[str]) -> None:
        self.names = names
        self.exact_keys = exact_keys

    def check(self, recorded: Any, actual: Any, where: str = 'body', key: str | None = None) -> None:
        assert type(actual) is type(recorded), f'{where}: {actual!r} is not like {recorded!r}'
        if isinstance(recorded, dict):
            assert set(actual) == set(recorded), f'{where}: keys {sorted(actual)} != {sorted(recorded)}'
            self._check_dict(recorded, actual, where)
        elif isinstance(recorded, list):
            assert len(actual) == len(recorded), f'{where}: {len(actual)} items, recorded {len(recorded)}'
            for index, (old, new) in enumerate(zip(recorded, actual, strict=True)):
                self.check(old, new, f'{where}[{index}]', key)
        elif key == 'lastModified':
            assert TIMESTAMP.match(actual), f'{where}: {actual!r}'
        elif key in self.exact_keys and key not in VOLATILE_VALUE_KEYS:
            expected = self.names.expected(key, recorded) if isinstance(recorded, str) else recorded
            assert actual == expected, f'{where}: {actual!r} != {expected!r}'

    def _check_dict(self, recorded: dict[str, Any], actual: dict[str, Any], where: str) -> None:
        if recorded.get('errorType') == 'validation':
            self.check(recorded['data'], actual['data'], f'{where}.data')
            first_error = recorded['message'].split('\n\n')[0]
            assert actual['message'].split('\n\n')[0] == self.names.text(first_error).lower()
            return
        for key, value in recorded.items():
            stable_size = recorded.get('type') == '-' and not recorded.get('name', '').endswith(
                ('.gz', '.tar')
            )
            if key == 'size' and not stable_size:
                assert isinstance(actual[key], type(value))
                continue
            self.check(value, actual[key], f'{where}.{key}', key)

    def response(self, recorded: dict[str, Any], response: httpx.Response) -> None:
        """The whole answer: status, content type, version header and body."""
        assert response.status_code == recorded['status'], response.text
        headers = recorded['headers_of_interest']
        assert response.headers.get('f7t-appversion') == headers['f7t-appversion']
        for name in ('content-type', 'location'):
            if name in headers:
                assert response.headers[name] == headers[name]
        body = recorded['body']
        if body == '<empty body>':
            assert response.content == b''
        elif isinstance(body, dict) and '_text_prefix' in body:
            assert response.text.startswith(self.names.text(body['_text_prefix']))
            assert len(response.content) == body['_total_bytes']
        elif isinstance(body, dict) and '_bytes' in body:
            assert len(response.content) == int(body['_bytes'].split()[0].lstrip('<'))
        else:
            self.check(body, response.json())


def token(client: TestClient, settings: DemoSettings) -> str:
    form = {
        'grant_type': 'client_credentials',
        'client_id': settings.client_id,
        'client_secret': settings.client_secret,
    }
    return client.post('/oauth2/token', data=form).json()['access_token']


@pytest.fixture
def h1_settings(tmp_path: Path) -> DemoSettings:
    """Demo settings with an S3 URL published (as the recorded server) and a short command timeout."""
    return DemoSettings(root=tmp_path / 'demo', s3_endpoint='http://127.0.0.1:9000', command_timeout=0.2)


@pytest.fixture
def h1_app(h1_settings: DemoSettings) -> FastAPI:
    return create_app(h1_settings)


@pytest.fixture
def h1_anonymous(h1_app: FastAPI) -> Iterator[TestClient]:
    """An in-process client without credentials."""
    with TestClient(h1_app, base_url='http://127.0.0.1:8000') as client:
        yield client


@pytest.fixture
def h1_client(h1_anonymous: TestClient, h1_settings: DemoSettings) -> TestClient:
    """An in-process client with a valid bearer token."""
    h1_anonymous.headers['Authorization'] = f'Bearer {token(h1_anonymous, h1_settings)}'
    return h1_anonymous


@pytest.fixture
def h1_samples(h1_settings: DemoSettings) -> Path:
    """Where the recordings' sample directory lives on the demo (created by the tests that need it)."""
    return h1_settings.home / 'samples-fixed001'


@pytest.fixture
def h1_names(h1_settings: DemoSettings, h1_samples: Path) -> RecordedNames:
    return RecordedNames(h1_settings, h1_samples)


def replay(client: TestClient, names: RecordedNames, request: dict[str, Any]) -> httpx.Response:
    """Send a recorded request (query and JSON body mapped onto the demo) and return the answer."""
    outgoing = client.build_request(
        request['method'],
        names.text(request['path']),
        params=names.body(request.get('query')),
        json=names.body(request.get('json_body')),
    )
    if 'Authorization' not in request.get('headers_of_interest', {}):
        del outgoing.headers['Authorization']
    return client.send(outgoing, follow_redirects=False)


@pytest.fixture
def h1_replay(h1_client: TestClient, h1_names: RecordedNames) -> Callable[[dict[str, Any]], httpx.Response]:
    """Send one recorded request to the in-process demo."""
    return lambda request: replay(h1_client, h1_names, request)


@pytest.fixture
def h1_conformance(h1_names: RecordedNames) -> Callable[[set[str]], Conformance]:
    """A :class:`Conformance` checker comparing the values of ``exact_keys`` (and types of all)."""
    return lambda exact_keys: Conformance(h1_names, exact_keys)


@pytest.fixture
def h1_load() -> Callable[[str], dict[str, Any]]:
    """Load a recorded exchange file by its number (``'08'``)."""
    return load_exchanges


@pytest.fixture
def h1_recorded(h1_exchange: tuple[str, int]) -> dict[str, Any]:
    """The recorded exchange this test is parametrized with (see :func:`pytest_generate_tests`)."""
    prefix, index = h1_exchange
    return load_exchanges(prefix)['exchanges'][index]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``h1_exchange`` over the exchanges of the files in the module's ``H1_EXCHANGE_FILES``.

    ``H1_EXCLUDED`` maps ``(file prefix, index)`` to why that exchange cannot be replayed on the demo.
    """
    if 'h1_exchange' in metafunc.fixturenames:
        excluded = getattr(metafunc.module, 'H1_EXCLUDED', {})
        cases = [case for case in exchange_ids(metafunc.module.H1_EXCHANGE_FILES) if case not in excluded]
        ids = [f'{prefix}-{index}' for prefix, index in cases]
        metafunc.parametrize('h1_exchange', cases, ids=ids)
