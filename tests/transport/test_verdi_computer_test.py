"""``verdi computer test`` passes for a computer with the firecrest transport and scheduler."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.usefixtures('demo_only')


def test_verdi_computer_test_passes(firecrest_computer) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_test

    result = CliRunner().invoke(computer_test, [firecrest_computer.label], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert 'Success' in result.output
