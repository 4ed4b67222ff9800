"""``verdi computer test`` passes for a computer with the firecrest transport and scheduler, without waste."""

from __future__ import annotations

from typing import Any

import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_firecrest.transport import FirecrestTransport


def test_verdi_computer_test_passes(firecrest_computer: orm.Computer) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_test

    result = CliRunner().invoke(computer_test, [firecrest_computer.label], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert 'Success' in result.output


def test_configure_without_options_stores_no_login_shell(
    firecrest_computer: orm.Computer, transport_params: dict[str, Any]
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_configure

    options = [
        part
        for name, value in transport_params.items()
        for part in (f'--{name.replace("_", "-")}', str(value or ''))
    ]
    result = CliRunner().invoke(computer_configure, ['firecrest', firecrest_computer.label, '-n', *options])

    assert result.exit_code == 0, result.output
    user = orm.User.collection.get_default()
    assert user is not None
    authinfo = firecrest_computer.get_authinfo(user)
    assert authinfo.get_auth_params()['use_login_shell'] is False


def test_verdi_computer_test_opens_the_transport_once_without_a_login_shell(
    firecrest_computer: orm.Computer, transport_params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_test

    opened: list[FirecrestTransport] = []
    open_async = FirecrestTransport.open_async

    async def counting_open(self: FirecrestTransport) -> Any:
        opened.append(self)
        return await open_async(self)

    firecrest_computer.configure(safe_interval=0, use_login_shell=False, **transport_params)
    monkeypatch.setattr(FirecrestTransport, 'open_async', counting_open)
    result = CliRunner().invoke(computer_test, [firecrest_computer.label], catch_exceptions=False)

    assert 'Success: all 6 tests succeeded' in result.output
    assert len(opened) == 1
