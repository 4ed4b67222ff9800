"""pytest plugin that runs aiida-core's generic transport suite with the firecrest transport.

Loaded with ``-p tests.aiida_generic.firecrest_plugin`` by :mod:`.test_generic_suite` in a separate pytest
process. It keeps one parametrization of the suite's ``custom_transport`` fixture and makes it build a
:class:`FirecrestTransport` for the demo server described by ``$FIRECREST_GENERIC_CONFIG`` (JSON). The
suite's "remote" paths are pytest temporary directories, so ``--basetemp`` must lie inside one of the
server's file systems. Cases that need command execution are skipped with their reason
(:data:`COMMAND_EXECUTION_CASES`); a case that uses a path this transport refuses by design is a strict
expected failure (:data:`REFUSED_BY_DESIGN`): it runs, must fail with that refusal, and fails the run if it
ever passes.

Some cases fake a failing ``tar`` by replacing the transport's ``exec_command_wait(_async)``, which this
transport never calls: its archives are made by the server. While such a replacement is in place,
:class:`FailingTarServer` answers the server's ``compress`` and ``extract`` requests as the real server
answers when its ``tar`` exits with status 1, so the case checks what the transport makes of that failure.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from aiida_firecrest.demo.errors import FirecrestHTTPError
from aiida_firecrest.transport import FirecrestTransport

pytest_plugins = ('aiida.tools.pytest_fixtures',)

NO_EXEC = 'FirecREST offers no command execution (exec_command_wait raises NotImplementedError)'
COMMAND_EXECUTION_CASES = {
    'test_exec_with_stdin_string': NO_EXEC,
    'test_exec_with_stdin_bytes': NO_EXEC,
    'test_exec_with_stdin_filelike': NO_EXEC,
    'test_exec_with_stdin_filelike_bytes': NO_EXEC,
    'test_exec_with_stdin_filelike_bytes_decoding': NO_EXEC,
    'test_exec_with_wrong_stdin': NO_EXEC,
    'test_transfer_big_stdout': NO_EXEC,
    'test_asynchronous_execution': f'{NO_EXEC}; it submits through the core.direct scheduler',
}
"""The suite's cases that need command execution, skipped with their reason: the only cases not run."""
REFUSED_BY_DESIGN = {
    'test_put_and_get_with_special_chars[quotes]': (
        "FirecREST quotes its shell commands with ', so the transport refuses a ' in a remote path with "
        'ValueError before any request (tests/transport/test_special_names.py)'
    ),
}
"""Cases that fail with ``ValueError`` because the transport refuses their remote path, with the reason."""
V1_REFUSED_BY_DESIGN = {
    **REFUSED_BY_DESIGN,
    **{
        f'test_put_and_get_with_special_chars[{case}]': (
            f'FirecREST v1 refuses {char} in every path (its validate_input), so the transport refuses it '
            'with ValueError before any request (tests/transport/test_special_names.py)'
        )
        for case, char in (('semicolon-cmd-separator', ';'), ('backtick-cmd-substitution', '`'))
    },
}
"""The same on a FirecREST v1 server."""


def refused_by_design(config: dict[str, Any]) -> dict[str, str]:
    """The cases refused on the server of ``config`` (its API's refused characters)."""
    return V1_REFUSED_BY_DESIGN if str(config.get('api_version')) == '1' else REFUSED_BY_DESIGN


FAKED_COMMANDS = ('exec_command_wait', 'exec_command_wait_async')
"""The methods the suite replaces on a transport to fake a failing ``tar``."""
TAR_ENDPOINTS = ('/ops/compress', '/ops/extract')
V1_TAR_ENDPOINTS = ('/utilities/compress', '/utilities/extract')
KEPT_PARAMETRIZATION = ('core.local', None)
"""The suite's ``custom_transport`` parameter whose factory is replaced by the firecrest transport."""


def server_config() -> dict[str, Any]:
    return cast('dict[str, Any]', json.loads(os.environ['FIRECREST_GENERIC_CONFIG']))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], []
    refused = refused_by_design(server_config())
    for item in items:
        callspec = getattr(item, 'callspec', None)
        if (
            callspec is not None
            and callspec.params.get('custom_transport', KEPT_PARAMETRIZATION) != KEPT_PARAMETRIZATION
        ):
            deselected.append(item)
            continue
        name = case_name(item.name)
        if name.split('[')[0] in COMMAND_EXECUTION_CASES:
            item.add_marker(pytest.mark.skip(reason=COMMAND_EXECUTION_CASES[name.split('[')[0]]))
        elif name in refused:
            item.add_marker(pytest.mark.xfail(reason=refused[name], raises=ValueError, strict=True))
        kept.append(item)
    config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def case_name(test_name: str) -> str:
    """``test_name[params]`` without the ``custom_transport`` parameter: ``test_copy``, ``test_x[quotes]``."""
    for part in ('custom_transport0-', '-custom_transport0', 'custom_transport0'):
        test_name = test_name.replace(part, '')
    return test_name.removesuffix('[]')


@pytest.fixture(autouse=True)
def firecrest_transport_factory(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the suite's ``TransportFactory('core.local')`` build the firecrest transport."""
    config = server_config()
    params = {
        name: config[name] for name in ('url', 'token_uri', 'client_id', 'client_secret', 'compute_resource')
    }
    params.update(temp_directory=config['temp_directory'], billing_account=config.get('billing_account', ''))
    if 'api_version' in config:
        params['api_version'] = str(config['api_version'])
    factory: Callable[..., FirecrestTransport] = functools.partial(
        SuiteTransport, machine='localhost', safe_interval=0, **params
    )
    monkeypatch.setattr(request.module, 'TransportFactory', lambda name: factory, raising=False)


class SuiteTransport(FirecrestTransport):
    """The firecrest transport, its requests sent through a :class:`FailingTarServer`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(http_transport=FailingTarServer(self), **kwargs)

    def fakes_a_command(self) -> bool:
        """Whether the suite has replaced this transport's command execution (to fake a failing ``tar``)."""
        own = type(self)
        return any(
            getattr(getattr(self, name), '__func__', None) is not getattr(own, name)
            for name in FAKED_COMMANDS
        )


class FailingTarServer(httpx.AsyncBaseTransport):
    """Sends requests to the server, except archive requests of a transport whose ``tar`` is faked to fail.

    Those are answered as the real server answers when its ``tar`` exits with status 1 and prints nothing
    (v2: HTTP 500, ``Remote process failed with exit status:1``; v1: HTTP 400 with an empty ``error``),
    which is what the suite's fake returns.
    """

    def __init__(self, transport: SuiteTransport) -> None:
        self._transport = transport
        self._server = httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == 'POST' and self._transport.fakes_a_command():
            if request.url.path.endswith(TAR_ENDPOINTS):
                answer = FirecrestHTTPError(500, 'Remote process failed with exit status:1').response()
                return httpx.Response(
                    answer.status_code, content=bytes(answer.body), headers=dict(answer.headers)
                )
            if request.url.path.endswith(V1_TAR_ENDPOINTS):
                # v1's answer to a command that exits 1 printing nothing (``check_command_error``)
                operation = request.url.path.rsplit('/', 1)[-1]
                body = {'description': f'Error on {operation} operation', 'error': ''}
                return httpx.Response(400, json=body, headers={'X-Error': ''})
        return await self._server.handle_async_request(request)

    async def aclose(self) -> None:
        await self._server.aclose()


@pytest.fixture
def create_file_hierarchy() -> Callable[[dict[str, Any], Path], None]:
    """Write ``{name: text or nested dict}`` below a directory (as aiida-core's tests/conftest.py does)."""

    def create(hierarchy: dict[str, Any], target: Path) -> None:
        for name, value in hierarchy.items():
            if isinstance(value, dict):
                create(value, target / name)
            else:
                target.mkdir(parents=True, exist_ok=True)
                (target / name).write_text(value)

    return create


@pytest.fixture
def serialize_file_hierarchy() -> Callable[..., dict[str, Any]]:
    """Read the files below a directory as ``{name: content or nested dict}`` (empty directories omitted)."""

    def serialize(root: Path, read_bytes: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for path in sorted(p for p in root.rglob('*') if p.is_file()):
            node = result
            for part in path.relative_to(root).parts[:-1]:
                node = node.setdefault(part, {})
            node[path.name] = path.read_bytes() if read_bytes else path.read_text()
        return result

    return serialize
