"""The demo declares what the real server's ``openapi.json`` declares: endpoints, parameters, body fields.

The recorded ``openapi.json`` lies beside the recorded exchanges. Descriptions, the shared
``4XX``/``5XX`` responses and FastAPI's own ``422`` are not compared: the demo answers 400 for
validation errors, which the conformance tests check on the wire.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiida_firecrest.demo.app import create_app
from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import EXCHANGES, require_exchanges

require_exchanges()

METHODS = ('get', 'post', 'put', 'delete', 'patch')


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or what its ``$ref`` points to."""
    if '$ref' not in node:
        return node
    for part in node['$ref'].removeprefix('#/').split('/'):
        spec = spec[part]
    return spec


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``'METHOD /path'`` -> its parameters (name, location, required) and request body fields."""
    operations = {}
    for path, item in spec['paths'].items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = {
                (parameter['in'], parameter['name'], parameter.get('required', False))
                for parameter in map(lambda node: _resolve(spec, node), operation.get('parameters', []))
            }
            body = operation.get('requestBody', {}).get('content', {})
            fields = {
                (content_type, field)
                for content_type, media in body.items()
                for field in _resolve(spec, media['schema']).get('properties', {})
            }
            operations[f'{method.upper()} {path}'] = {'parameters': parameters, 'body': fields}
    return operations


@pytest.fixture(scope='module')
def real_operations() -> dict[str, dict[str, Any]]:
    return _operations(json.loads((EXCHANGES.parent / 'openapi.json').read_text()))


@pytest.fixture(scope='module')
def demo_operations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp('openapi')
    return _operations(create_app(DemoSettings(root=root)).openapi())


def test_demo_serves_every_endpoint_and_no_other(
    real_operations: dict[str, Any], demo_operations: dict[str, Any]
) -> None:
    assert sorted(demo_operations) == sorted(real_operations)


@pytest.mark.parametrize('part', ['parameters', 'body'])
def test_demo_declares_the_same_parameters_and_body_fields(
    part: str, real_operations: dict[str, Any], demo_operations: dict[str, Any]
) -> None:
    differences = {
        endpoint: {'real': sorted(real[part]), 'demo': sorted(demo_operations[endpoint][part])}
        for endpoint, real in real_operations.items()
        if real[part] != demo_operations[endpoint][part]
    }
    assert differences == {}
