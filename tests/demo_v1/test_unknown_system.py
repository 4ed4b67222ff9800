"""An unknown ``X-Machine-Name``: each v1 micro-service's answer, and the plugin's one message for all."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from aiida_firecrest.backends import open_backend
from aiida_firecrest.errors import FirecrestConfigError
from aiida_firecrest.settings import TransportConfig


def _token(config: dict[str, Any]) -> str:
    answer = httpx.post(
        config['token_uri'],
        data={'grant_type': 'client_credentials', 'client_id': config['client_id'],
              'client_secret': config['client_secret']},
        timeout=10,
    )  # fmt: skip
    return str(answer.json()['access_token'])


@pytest.mark.parametrize(
    ('method', 'path', 'header'),
    [
        ('GET', '/utilities/ls?targetPath=/tmp', 'X-Machine-Does-Not-Exist'),
        ('GET', '/compute/jobs', 'X-Machine-Does-Not-Exists'),
        ('POST', '/storage/xfer-external/download', 'X-Machine-Does-Not-Exists'),
    ],
)
def test_an_unknown_machine_is_answered_in_each_services_spelling(
    v1_server: Any, method: str, path: str, header: str
) -> None:
    config = v1_server.config
    headers = {'Authorization': f'Bearer {_token(config)}', 'X-Machine-Name': 'nosuch'}
    response = httpx.request(method, f'{config["url"]}{path}', headers=headers, timeout=10)
    assert response.status_code == 400
    assert header in response.headers


@pytest.mark.parametrize(
    'ask', [lambda remote: remote.jobs(), lambda remote: remote.ls('/tmp')], ids=['compute', 'utilities']
)
def test_an_unknown_system_is_named_with_the_known_ones_whatever_the_service(
    v1_server: Any, ask: Any
) -> None:
    known = v1_server.config
    params = {key: known[key] for key in ('url', 'token_uri', 'client_id', 'client_secret', 'temp_directory')}
    config = TransportConfig.from_auth_params({**params, 'compute_resource': 'nosuch', 'api_version': '1'})

    async def scenario() -> None:
        client, remote = await open_backend(config)
        try:
            await ask(remote)
        finally:
            await client.close()

    with pytest.raises(
        FirecrestConfigError,
        match=f"no system 'nosuch'; available systems: {v1_server.config['compute_resource']}",
    ):
        asyncio.run(scenario())
