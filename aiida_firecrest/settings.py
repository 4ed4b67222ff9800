"""The configuration of one FirecREST computer, typed: what the transport, client and scheduler read.

Built from the values ``verdi computer configure firecrest`` stored (:mod:`.config` asks for and checks
them); nothing here talks to the server or to the user.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ('MIB', 'TransportConfig')

#: A mebibyte, the unit of ``small_file_size_mb`` (and of every size this plugin reports in MB).
MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class TransportConfig:
    """Typed configuration of one FirecREST computer."""

    url: str
    token_uri: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    """As stored: a path to a file holding the secret, ``env:VAR``, or (tests only) the secret itself."""
    compute_resource: str
    temp_directory: str
    billing_account: str = ''
    small_file_size_mb: float = 0.0
    max_io_allowed: int = 8
    checksum_check: bool = True
    request_timeout: float = 120.0
    max_retries: int = 5
    api_version: str = '2'
    """``2``, ``1`` (FirecREST v1) or ``auto`` (asked of the server); computers configured before the option
    existed speak v2."""

    @classmethod
    def from_auth_params(cls, params: dict[str, Any]) -> TransportConfig:
        """Build from the keyword arguments AiiDA passes to the transport; unknown keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in params.items() if key in names and value is not None})
