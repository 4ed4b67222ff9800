"""``python firecrest_demo.py`` runs a real CalcJob through FirecREST and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_walkthrough_runs_a_calcjob_and_cleans_up(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """On a system of the session's ``--firecrest-scheduler`` (no option at all for Slurm)."""
    scheduler = pytestconfig.getoption('firecrest_scheduler')
    options = [] if scheduler == 'slurm' else ['--scheduler', scheduler]
    home, scratch = tmp_path / 'home', tmp_path / 'tmp'
    home.mkdir()
    scratch.mkdir()
    env = {**os.environ, 'HOME': str(home), 'TMPDIR': str(scratch)}
    env.pop('AIIDA_PATH', None)
    result = subprocess.run(
        [sys.executable, str(REPO / 'firecrest_demo.py'), *options],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'result: 17 + 25 = 42' in result.stdout
    assert 'requests to FirecREST:' in result.stdout
    assert 'POST /compute/{system_name}/jobs' in result.stdout
    assert list(home.iterdir()) == [], 'the walkthrough wrote to the home directory'
    assert list(scratch.iterdir()) == [], 'the walkthrough left temporary files behind'
