"""Where aiida-core's generic transport suite (``tests/transports/test_all_plugins.py``) is read from.

aiida-core ships no tests in its wheels or source distributions, and the file is not part of this
repository. A copy is kept in ``shared/aiida-core-suite`` beside this repository (the layout of the project's
own CI, ``.ci/run``), or wherever ``AIIDA_TRANSPORT_SUITE`` points. Without it the generic suite is skipped
with that reason, unless ``FIRECREST_REQUIRE_AIIDA_SUITE`` is set (as ``.ci/run`` sets it), where a missing
file is an error rather than a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SUITE = Path(
    os.environ.get(
        'AIIDA_TRANSPORT_SUITE', REPOSITORY.parent / 'shared' / 'aiida-core-suite' / 'test_all_plugins.py'
    )
).resolve()


def require_suite() -> Path:
    """The suite's path; skips the calling test when it is absent, or fails where it is required."""
    if SUITE.is_file():
        return SUITE
    reason = (
        f"aiida-core's generic transport suite not found at {SUITE} (set AIIDA_TRANSPORT_SUITE to a copy of "
        "aiida-core's tests/transports/test_all_plugins.py)"
    )
    if os.environ.get('FIRECREST_REQUIRE_AIIDA_SUITE'):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
