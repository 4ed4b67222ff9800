"""pytest plugin that runs aiida-core's generic transport suite with the firecrest transport.

Loaded with ``-p tests.aiida_generic.firecrest_plugin`` by :mod:`.test_generic_suite` in a separate pytest
process. It keeps one parametrization of the suite's ``custom_transport`` fixture and makes it build a
:class:`FirecrestTransport` for the demo server described by ``$FIRECREST_GENERIC_CONFIG`` (JSON). The
suite's "remote" paths are pytest temporary directories, so ``--basetemp`` must lie inside one of the
server's file systems. Cases that need command execution, or a path FirecREST refuses by design, are
skipped with their reason (:data:`SKIPPED`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiida_firecrest.transport import FirecrestTransport

pytest_plugins = ('aiida.tools.pytest_fixtures',)

NO_EXEC = 'FirecREST offers no command execution (exec_command_wait raises NotImplementedError)'
PATCHES_EXEC = (
    'its last step simulates a failing tar by patching exec_command_wait_async, which a transport without '
    'command execution never calls (the rest of the case is covered in tests/transport/test_archives.py)'
)
SKIPPED = {
    'test_exec_with_stdin_string': NO_EXEC,
    'test_exec_with_stdin_bytes': NO_EXEC,
    'test_exec_with_stdin_filelike': NO_EXEC,
    'test_exec_with_stdin_filelike_bytes': NO_EXEC,
    'test_exec_with_stdin_filelike_bytes_decoding': NO_EXEC,
    'test_exec_with_wrong_stdin': NO_EXEC,
    'test_transfer_big_stdout': NO_EXEC,
    'test_asynchronous_execution': f'{NO_EXEC}; it submits through the core.direct scheduler',
    'test_compress_error_handling': PATCHES_EXEC,
    'test_extract': PATCHES_EXEC,
    'test_put_and_get_with_special_chars[quotes]': (
        "FirecREST quotes its shell commands with ', so the transport refuses a ' in a remote path with "
        'ValueError before any request (tests/transport/test_special_names.py)'
    ),
}
KEPT_PARAMETRIZATION = ('core.local', None)
"""The suite's ``custom_transport`` parameter whose factory is replaced by the firecrest transport."""


def server_config() -> dict[str, Any]:
    return json.loads(os.environ['FIRECREST_GENERIC_CONFIG'])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, 'callspec', None)
        if (
            callspec is not None
            and callspec.params.get('custom_transport', KEPT_PARAMETRIZATION) != KEPT_PARAMETRIZATION
        ):
            deselected.append(item)
            continue
        reason = SKIPPED.get(item.originalname) or SKIPPED.get(_short_id(item))  # type: ignore[attr-defined]
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        kept.append(item)
    config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def _short_id(item: pytest.Item) -> str:
    """``test_name[param]`` without the ``custom_transport`` part of the id."""
    name = item.name
    for part in ('-custom_transport0', 'custom_transport0-', 'custom_transport0'):
        name = name.replace(part, '')
    return name.replace('[]', '')


@pytest.fixture(autouse=True)
def firecrest_transport_factory(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the suite's ``TransportFactory('core.local')`` build the firecrest transport."""
    config = server_config()
    params = {
        name: config[name] for name in ('url', 'token_uri', 'client_id', 'client_secret', 'compute_resource')
    }
    params.update(temp_directory=config['temp_directory'], billing_account=config.get('billing_account', ''))
    factory: Callable[..., FirecrestTransport] = functools.partial(
        FirecrestTransport, machine='localhost', safe_interval=0, **params
    )
    monkeypatch.setattr(request.module, 'TransportFactory', lambda name: factory, raising=False)


@pytest.fixture
def create_file_hierarchy() -> Callable[[dict, Path], None]:
    """Write ``{name: text or nested dict}`` below a directory (as aiida-core's tests/conftest.py does)."""

    def create(hierarchy: dict, target: Path) -> None:
        for name, value in hierarchy.items():
            if isinstance(value, dict):
                create(value, target / name)
            else:
                target.mkdir(parents=True, exist_ok=True)
                (target / name).write_text(value)

    return create


@pytest.fixture
def serialize_file_hierarchy() -> Callable[..., dict]:
    """Read the files below a directory as ``{name: content or nested dict}`` (empty directories omitted)."""

    def serialize(root: Path, read_bytes: bool = True) -> dict:
        result: dict = {}
        for path in sorted(p for p in root.rglob('*') if p.is_file()):
            node = result
            for part in path.relative_to(root).parts[:-1]:
                node = node.setdefault(part, {})
            node[path.name] = path.read_bytes() if read_bytes else path.read_text()
        return result

    return serialize
