"""Fixtures for the demo server's own tests: a fresh in-process demo per test, and replays of recordings.

* ``demo_release`` -> ``demo_settings`` -> ``demo_app`` -> ``anonymous_client`` (no token) ->
  ``demo_client`` (a valid token): a new demo app of the session's FirecREST release (the recorded one
  for modules that replay recordings), called in-process (no sockets), whose event loop runs (and its
  jobs with it) while the client is open. A test module may override ``demo_settings`` to add sample
  files.
* ``replay``: a :class:`~._replay.Replay` of recorded exchanges on ``demo_client``, comparing the
  values of the calling module's ``EXACT_KEYS``.
* ``recorded_exchange``: parametrizes a test over every exchange of the module's
  ``EXCHANGE_FILES`` (less those in its ``EXCLUDED``, with the reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from aiida_firecrest.demo.app import DemoApp, create_app
from aiida_firecrest.demo.settings import DemoSettings
from aiida_firecrest.demo.versions import RECORDED

from ..recordings import load_exchanges
from ._replay import RecordedNames, Replay

BASE_URL = 'http://127.0.0.1:8000'
"""Where the in-process app believes it is served (redirects name it, as the recorded server's did)."""


def access_token(client: TestClient, settings: DemoSettings) -> str:
    """A bearer token from the demo's token endpoint, for the configured client."""
    form = {
        'grant_type': 'client_credentials',
        'client_id': settings.client_id,
        'client_secret': settings.client_secret,
    }
    return cast(str, client.post('/oauth2/token', data=form).json()['access_token'])


@pytest.fixture
def demo_release(request: pytest.FixtureRequest, demo_server_version: str) -> str:
    """The release the module's demo answers as: the session's, except for a module that replays
    recordings (it has ``EXACT_KEYS``), whose oracle is the recorded release."""
    return RECORDED if hasattr(request.module, 'EXACT_KEYS') else demo_server_version


@pytest.fixture
def demo_settings(tmp_path: Path, demo_release: str) -> DemoSettings:
    """A demo with a short command timeout, publishing an S3 URL as the recorded server (nothing listens)."""
    return DemoSettings.for_release(
        demo_release, root=tmp_path / 'demo', s3_endpoint='http://127.0.0.1:9000', command_timeout=0.3
    )


@pytest.fixture
def demo_app(demo_settings: DemoSettings) -> DemoApp:
    return create_app(demo_settings)


@pytest.fixture
def anonymous_client(demo_app: DemoApp) -> Iterator[TestClient]:
    """An in-process client without credentials; the app runs (with its jobs) while it is open."""
    with TestClient(demo_app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def demo_client(anonymous_client: TestClient, demo_settings: DemoSettings) -> TestClient:
    """An in-process client with a valid bearer token."""
    anonymous_client.headers['Authorization'] = f'Bearer {access_token(anonymous_client, demo_settings)}'
    return anonymous_client


@pytest.fixture
def recorded_names(demo_settings: DemoSettings) -> RecordedNames:
    return RecordedNames(demo_settings)


@pytest.fixture
def replay(request: pytest.FixtureRequest, demo_client: TestClient, recorded_names: RecordedNames) -> Replay:
    """Replays recorded exchanges on ``demo_client``, comparing the values of the module's ``EXACT_KEYS``."""
    return Replay(demo_client, recorded_names, request.module.EXACT_KEYS)


@pytest.fixture
def recorded_exchange(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The recorded exchange this test is parametrized with (see :func:`pytest_generate_tests`)."""
    prefix, index = request.param
    return cast('dict[str, Any]', load_exchanges(prefix)['exchanges'][index])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``recorded_exchange`` over the exchanges of the module's ``EXCHANGE_FILES``."""
    if 'recorded_exchange' not in metafunc.fixturenames:
        return
    excluded = getattr(metafunc.module, 'EXCLUDED', {})
    cases = [
        (prefix, index)
        for prefix in metafunc.module.EXCHANGE_FILES
        for index in range(len(load_exchanges(prefix)['exchanges']))
        if (prefix, index) not in excluded
    ]
    ids = [f'{prefix}-{index}' for prefix, index in cases]
    metafunc.parametrize('recorded_exchange', cases, ids=ids, indirect=True)
