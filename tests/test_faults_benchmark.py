"""The smallest piece of ``benchmarks/faults.py --quick``: one mix, a couple of operations, no CalcJobs.

It runs the campaign as a user does (a subprocess, its own demo server, proxy and AiiDA profile) and
checks the report's shape, and that what the campaign exists to find is counted: a download the proxy
corrupts is ``wrong``, a file an operation leaves in the remote temp directory is a leftover, and
either makes the exit status non-zero.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r'^faults: (\d+) operations, (\d+) hung, (\d+) wrong, (\d+) leftovers$')


def run_campaign(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    scratch = tmp_path / 'tmp'
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'TMPDIR': str(scratch)}
    env.pop('AIIDA_PATH', None)
    script = str(REPO / 'benchmarks' / 'faults.py')
    command = [sys.executable, script, '--quick', '--mix', 'none', '--jobs', '0']
    done = subprocess.run(
        [*command, *options], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    assert list(scratch.iterdir()) == [], 'the campaign left its workspace behind'
    return done


def last_line(done: subprocess.CompletedProcess[str]) -> tuple[int, ...]:
    lines = done.stdout.strip().splitlines()
    match = SUMMARY.match(lines[-1]) if lines else None
    assert match, done.stdout + done.stderr
    return tuple(int(group) for group in match.groups())


@pytest.mark.slow
def test_a_clean_mix_reports_its_operations_and_exits_zero(tmp_path: Path) -> None:
    done = run_campaign(tmp_path, '--ops', 'putfile,getfile')
    assert last_line(done) == (2, 0, 0, 0), done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    mix_line = next(line for line in done.stdout.splitlines() if line.startswith('== mix none'))
    report = done.stdout[done.stdout.index(mix_line) :]
    assert re.search(r'2 operations: 2 ok, 0 failed, 0 hung, 0 wrong; 0 leftovers; \d+ requests', report)


@pytest.mark.slow
def test_corrupted_data_and_a_leftover_are_counted(tmp_path: Path) -> None:
    done = run_campaign(tmp_path, '--ops', 'putfile,getfile,inject-leftover', '--inject', 'wrong,leftover')
    assert last_line(done) == (3, 0, 1, 1), done.stdout + done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r'^ {3}WRONG: getfile .*first difference at byte 0$', done.stdout, re.MULTILINE)
    leftover = r'^ {3}LEFTOVER: inject-leftover: remote temp file .*/injected-leftover$'
    assert re.search(leftover, done.stdout, re.MULTILINE)
    # the upload is checked with the faults paused: the proxy corrupted only the download under test
    assert 'WRONG: putfile' not in done.stdout
