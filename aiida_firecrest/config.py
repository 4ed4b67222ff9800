"""The computer configuration of a FirecREST transport: option names, defaults, and secret resolution.

``AUTH_OPTIONS`` is what ``verdi computer configure firecrest`` asks for; ``TransportConfig`` is the
validated, typed form the transport and client work with.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

AUTH_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ('url', {'type': str, 'non_interactive_default': False, 'prompt': 'Server URL', 'help': 'URL of the FirecREST v2 API.'}),
    ('token_uri', {'type': str, 'non_interactive_default': False, 'prompt': 'Token URI', 'help': 'OAuth2 token endpoint.'}),
    ('client_id', {'type': str, 'non_interactive_default': False, 'prompt': 'Client ID', 'help': 'OAuth2 client id.'}),
    (
        'client_secret',
        {
            'type': str,
            'non_interactive_default': False,
            'prompt': 'Client secret (file path or env:VAR)',
            'help': 'Path to a file holding the client secret, or env:VARIABLE naming an environment variable.',
        },
    ),
    ('compute_resource', {'type': str, 'non_interactive_default': False, 'prompt': 'System name', 'help': 'FirecREST system name.'}),
    (
        'billing_account',
        {'type': str, 'non_interactive_default': True, 'default': '', 'prompt': 'Billing account', 'help': 'Account for jobs.'},
    ),
    (
        'temp_directory',
        {'type': str, 'non_interactive_default': False, 'prompt': 'Temp directory on server', 'help': 'For bundles.'},
    ),
    (
        'small_file_size_mb',
        {
            'type': float,
            'non_interactive_default': True,
            'default': 0.0,
            'prompt': 'Direct-transfer threshold (MB, 0 = from server)',
            'help': 'Files up to this size move in one direct request; larger ones are staged.',
        },
    ),
    (
        'max_io_allowed',
        {'type': int, 'non_interactive_default': True, 'default': 8, 'prompt': 'Max concurrent transfers', 'help': '.'},
    ),
    (
        'checksum_check',
        {'type': bool, 'non_interactive_default': True, 'default': True, 'prompt': 'Verify checksums', 'help': '.'},
    ),
]


@dataclasses.dataclass(frozen=True)
class TransportConfig:
    """Typed configuration of one FirecREST computer."""

    url: str
    token_uri: str
    client_id: str
    client_secret: str
    """As stored: a path to a file holding the secret, ``env:VAR``, or (tests only) the secret itself."""
    compute_resource: str
    temp_directory: str
    billing_account: str = ''
    small_file_size_mb: float = 0.0
    max_io_allowed: int = 8
    checksum_check: bool = True
    request_timeout: float = 120.0
    max_retries: int = 5

    @classmethod
    def from_auth_params(cls, params: dict[str, Any]) -> TransportConfig:
        """Build from the keyword arguments AiiDA passes to the transport; unknown keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in params.items() if key in names and value is not None})


def resolve_secret(stored: str) -> str:
    """The client secret behind a stored reference: ``env:VAR``, an absolute file path, or the value itself."""
    if stored.startswith('env:'):
        name = stored[4:]
        try:
            return os.environ[name]
        except KeyError:
            raise ValueError(f'The environment variable {name!r} holding the FirecREST client secret is not set.') from None
    if os.path.isabs(stored):
        path = Path(stored)
        if not path.is_file():
            raise ValueError(f'The FirecREST client secret file {stored} does not exist.')
        return path.read_text().strip()
    return stored
