"""The configure checks' client (:mod:`aiida_firecrest.probe`) on the session's server, for the tests' own
questions: what the server's limits and the user's accounts are, in the shape of the API it speaks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aiida_firecrest.probe import FirecrestProbe
from aiida_firecrest.probe_v1 import FirecrestV1Probe
from aiida_firecrest.secrets import resolve_secret


def api_version_of(config: dict[str, Any]) -> str:
    """The API version the session's server speaks: its connection details say 1 for a v1 server."""
    return '1' if str(config.get('api_version')) == '1' else '2'


@contextlib.contextmanager
def authenticated_probe(config: dict[str, Any]) -> Iterator[FirecrestProbe]:
    """A probe on the server of ``config`` with a token, asking v1's questions on a v1 server."""
    with FirecrestProbe(config['url']) as probe:
        probe.authenticate(
            config['token_uri'], config['client_id'], resolve_secret(str(config['client_secret']))
        )
        yield FirecrestV1Probe.taking_over(probe) if api_version_of(config) == '1' else probe
