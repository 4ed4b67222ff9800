"""The v1 demo server of these tests (one per session) and pyfirecrest's v1 client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._harness import dir_name_for


@pytest.fixture(scope='session')
def v1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``python firecrest_demo.py serve --api v1``'s server: the API and its S3 endpoint."""
    from aiida_firecrest.demo.launcher import DemoServer

    with DemoServer(root=tmp_path_factory.mktemp('firecrest-v1'), api='v1') as server:
        yield server


@pytest.fixture(scope='session')
def v1_client(v1_server: Any) -> Iterator[Any]:
    """pyfirecrest's ``firecrest.v1.Firecrest`` on the v1 demo, polling its tasks every 0.05 s."""
    import firecrest
    from firecrest.v1 import Firecrest

    config = v1_server.config
    auth = firecrest.ClientCredentialsAuth(config['client_id'], config['client_secret'], config['token_uri'])
    client = Firecrest(firecrest_url=config['url'], authorization=auth)
    client.polling_sleep_times = [0.05] * 400
    yield client


@pytest.fixture
def system(v1_server: Any) -> str:
    return str(v1_server.config['compute_resource'])


@pytest.fixture
def workdir(v1_server: Any, request: pytest.FixtureRequest) -> Path:
    """A fresh directory of this test in the demo's scratch (the demo's file systems are local)."""
    path = Path(v1_server.config['workdir']) / dir_name_for(request.node.name)  # v1 refuses <, > in paths
    path.mkdir(parents=True)
    return path
