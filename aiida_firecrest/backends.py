"""Which backend a computer talks to: FirecREST v2 (:mod:`.remote`) or v1 (:mod:`.remote_v1`).

``api_version`` of the computer's configuration chooses: ``2``, ``1``, or ``auto``, which asks the server
once per process (for a while): a v2 server answers ``GET /status/systems`` with its systems and their
``fileSystems``, a v1 server answers ``GET /status/parameters``. A server already seen answering with
v2's ``f7t-appversion`` header is v2 without asking.
"""

from __future__ import annotations

from typing import Any

import httpx

from .client import FirecrestClient
from .client_v1 import FirecrestV1Client, translate_v1_errors
from .errors import FirecrestConfigError
from .probe import json_object, not_firecrest_message
from .remote import FirecrestRemote, Remote
from .remote_v1 import FirecrestV1Remote
from .server_facts import SERVER_FACTS
from .settings import TransportConfig

__all__ = ('API_VERSIONS', 'AnyClient', 'detect_api_version', 'open_backend')

#: The values of ``api_version``.
API_VERSIONS = ('auto', '1', '2')
AnyClient = FirecrestClient | FirecrestV1Client


async def open_backend(
    config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None = None
) -> tuple[AnyClient, Remote]:
    """The client and backend of ``config``'s API version (detected first for ``auto``).

    :raises FirecrestConfigError: for an unknown ``api_version``, or (``auto``) a server that is neither.
    """
    version = str(config.api_version)
    if version == 'auto':
        version = await detect_api_version(config, http_transport)
    if version == '1':
        client_v1 = await FirecrestV1Client.connect(config, http_transport)
        return client_v1, FirecrestV1Remote(client_v1)
    if version == '2':
        client = await FirecrestClient.connect(config, http_transport)
        return client, FirecrestRemote(client)
    raise FirecrestConfigError(f'api_version must be one of {", ".join(API_VERSIONS)}, not {version!r}')


async def detect_api_version(
    config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None = None
) -> str:
    """``'1'`` or ``'2'``: what the server at ``config.url`` speaks (one or two requests, once per process).

    :raises FirecrestConfigError: if the URL serves neither API.
    """
    if config.url in SERVER_FACTS.versions:
        return '2'

    async def fetch() -> dict[str, Any]:
        return {'version': await _ask(config, http_transport)}

    answer = await SERVER_FACTS.get_or_fetch(('api-version', config.url), fetch)
    return str(answer['version'])


async def _ask(config: TransportConfig, http_transport: httpx.AsyncBaseTransport | None) -> str:
    client = await FirecrestV1Client.connect(config, http_transport)  # any authorised session will do
    base = config.url.rstrip('/')
    try:
        with translate_v1_errors():
            systems = await client.http.get(f'{base}/status/systems', headers={'Authorization': 'pending'})
            if _lists_v2_systems(json_object(systems)):
                return '2'
            parameters = await client.http.get(
                f'{base}/status/parameters', headers={'Authorization': 'pending'}
            )
            if parameters.status_code == 200 and isinstance(json_object(parameters).get('out'), dict):
                return '1'
    finally:
        await client.close()
    detail = (
        f'/status/systems answered HTTP {systems.status_code}, /status/parameters {parameters.status_code}'
    )
    raise FirecrestConfigError(not_firecrest_message(base, detail))


def _lists_v2_systems(body: dict[str, Any]) -> bool:
    systems = body.get('systems')
    return isinstance(systems, list) and any(isinstance(s, dict) and 'fileSystems' in s for s in systems)
