"""Where the recorded exchanges of a real FirecREST v2 server live, and how to load one file of them.

They are kept once, in ``shared/firecrest-v2/exchanges`` beside this repository (CI's layout), or
wherever ``FIRECREST_EXCHANGES`` points. Without them the conformance tests are skipped with that
reason, except on CI (``CI`` set), where a missing folder is an error rather than a silent skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
EXCHANGES = Path(
    os.environ.get('FIRECREST_EXCHANGES', REPOSITORY.parent / 'shared' / 'firecrest-v2' / 'exchanges')
)


def load_exchanges(prefix: str) -> dict[str, Any]:
    """The recorded exchange file whose name starts with ``prefix`` (e.g. ``'12'``)."""
    (path,) = EXCHANGES.glob(f'{prefix}-*.json')
    return json.loads(path.read_text())


def require_exchanges() -> None:
    """Skip the calling test module when the recordings are absent; on CI, fail instead."""
    if EXCHANGES.is_dir():
        return
    reason = f'recorded FirecREST exchanges not found at {EXCHANGES} (set FIRECREST_EXCHANGES)'
    if os.environ.get('CI'):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
