"""aiida-core's generic transport suite (``tests/transports/test_all_plugins.py``) passes with this transport.

The suite runs in its own pytest process with :mod:`.firecrest_plugin`, against this session's demo server:
its "remote" directories are pytest temporary directories created inside the server's scratch file system.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from .suite import SuiteUnavailableError, obtain_suite

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_aiida_generic_transport_suite_passes(demo_only, tmp_path: Path) -> None:
    try:
        suite = obtain_suite()
    except SuiteUnavailableError as exc:
        pytest.skip(f"aiida-core's generic transport suite is unavailable: {exc}")
    config = demo_only.config
    basetemp = Path(config['scratch']) / 'aiida-generic-suite'
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')
    report = tmp_path / 'report.xml'
    command = [sys.executable, '-m', 'pytest', str(suite), '-c', str(tmp_path / 'pytest.ini')]
    command += ['--rootdir', str(suite.parent), '--basetemp', str(basetemp), '-p', 'no:cacheprovider']
    command += ['-p', 'tests.aiida_generic.firecrest_plugin', '-q', '-rs', f'--junitxml={report}']
    env = {**os.environ, 'FIRECREST_GENERIC_CONFIG': json.dumps(config), 'PYTHONPATH': str(REPO)}
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    suite_attributes = ElementTree.parse(report).getroot().find('testsuite').attrib  # type: ignore[union-attr]
    failed = int(suite_attributes['failures']) + int(suite_attributes['errors'])
    assert result.returncode == 0 and failed == 0, result.stdout[-8000:] + result.stderr[-2000:]
