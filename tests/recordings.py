"""Where the recorded exchanges of a real FirecREST v2 server live, and how to load one file of them.

They are kept once, in ``shared/firecrest-v2/exchanges`` beside this repository (the layout of the
project's own CI, ``.ci/run``), or wherever ``FIRECREST_EXCHANGES`` points. Without them the
conformance tests are skipped with that reason, unless ``FIRECREST_REQUIRE_EXCHANGES`` is set (as
``.ci/run`` sets it), where a missing folder is an error rather than a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
EXCHANGES = Path(
    os.environ.get('FIRECREST_EXCHANGES', REPOSITORY.parent / 'shared' / 'firecrest-v2' / 'exchanges')
)


def load_exchanges(prefix: str) -> dict[str, Any]:
    """The recorded exchange file whose name starts with ``prefix`` (e.g. ``'12'``)."""
    (path,) = EXCHANGES.glob(f'{prefix}-*.json')
    return cast('dict[str, Any]', json.loads(path.read_text()))


def require_exchanges() -> None:
    """Skip the calling test module when the recordings are absent, or fail where they are required."""
    if EXCHANGES.is_dir():
        return
    reason = f'recorded FirecREST exchanges not found at {EXCHANGES} (set FIRECREST_EXCHANGES)'
    if os.environ.get('FIRECREST_REQUIRE_EXCHANGES'):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
