"""What the plugin reads from a server's release and system description (``aiida_firecrest.capabilities``)."""

from __future__ import annotations

from typing import Any

import pytest

from aiida_firecrest.capabilities import staged_transfer_method, supports_compression
from aiida_firecrest.errors import FirecrestConfigError


def _system(data_transfer: dict[str, Any] | None) -> dict[str, Any]:
    return {'name': 'daint', 'dataOperation': {'max_ops_file_size': 5242880, 'data_transfer': data_transfer}}


@pytest.mark.parametrize(
    'system',
    [_system({'serviceType': 's3', 'name': 's3-storage'}), {'name': 'daint'}],
    ids=['s3', 'no-data-operation'],
)
def test_a_system_staging_through_s3_is_used_with_s3(system: dict[str, Any]) -> None:
    assert staged_transfer_method(system) == 's3'


@pytest.mark.parametrize('method', ['streamer', 'wormhole'])
def test_a_system_staging_by_another_method_is_refused_with_one_line_naming_it(method: str) -> None:
    with pytest.raises(FirecrestConfigError) as info:
        staged_transfer_method(_system({'serviceType': method}))
    message = str(info.value)
    assert f"only by '{method}'" in message
    assert "configure an 's3' data_transfer" in message
    assert '\n' not in message


def test_a_system_without_a_staged_transfer_method_is_refused_with_one_line() -> None:
    with pytest.raises(FirecrestConfigError, match='offers no staged transfer method on daint'):
        staged_transfer_method(_system(None))


@pytest.mark.parametrize(
    ('header', 'supported'),
    [('2.2.8', False), ('2.3.1', False), ('2.4.0', True), ('2.5.6', True), ('2.x.x', True), (None, True)],
)
def test_compression_is_honoured_from_2_4_0(header: str | None, supported: bool) -> None:
    assert supports_compression(header) is supported
