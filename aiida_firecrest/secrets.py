"""The FirecREST client secret: the references AiiDA stores, and the files behind them.

AiiDA's database never holds the secret itself, only a reference to it:

* ``env:VARIABLE``: the secret is in the environment variable ``VARIABLE`` (of the process that opens the
  transport: the shell for ``verdi``, the daemon for submitted calculations);
* an absolute path (``~`` is expanded): the secret is the content of that file, which should be readable by
  its owner only.

A secret typed at ``verdi computer configure firecrest`` is written by :func:`store_secret` to a file of mode
0600 under the AiiDA configuration directory, and that file's path is what AiiDA stores.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

ENV_PREFIX = 'env:'
SECRETS_SUBDIRECTORY = ('firecrest', 'secrets')


class SecretError(ValueError):
    """The client secret cannot be read from its reference; the message never contains the secret."""


def is_env_reference(value: str) -> bool:
    """Whether ``value`` names an environment variable (``env:VARIABLE``)."""
    return value.startswith(ENV_PREFIX)


def is_file_reference(value: str) -> bool:
    """Whether ``value`` is a path to a file (absolute, or starting with ``~``)."""
    return value.startswith('~') or os.path.isabs(value)


def is_reference(value: str) -> bool:
    """Whether ``value`` is a reference to the secret rather than the secret itself."""
    return is_env_reference(value) or is_file_reference(value)


def secrets_directory() -> Path:
    """The directory of the secret files this plugin writes: ``<AiiDA config dir>/firecrest/secrets``."""
    from aiida.manage.configuration.settings import AiiDAConfigDir

    return AiiDAConfigDir.get().joinpath(*SECRETS_SUBDIRECTORY)


def store_secret(secret: str, hint: str = 'client') -> Path:
    """Write ``secret`` to a new file that only its owner can read or write, and return the file's path.

    :param secret: the client secret.
    :param hint: a readable part of the file name (for example the client id); it is sanitised.
    :raises SecretError: if ``secret`` is empty.
    """
    if not secret.strip():
        raise SecretError('The client secret is empty.')
    directory = secrets_directory()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    slug = re.sub(r'[^A-Za-z0-9_.-]+', '_', hint)[:40] or 'client'
    path = directory / f'{slug}-{secrets.token_hex(4)}.secret'
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(secret.strip() + '\n')
    return path


def loose_permissions_warning(path: Path) -> str | None:
    """A warning if the file at ``path`` can be read or written by its group or by others, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return (
            f'The client secret file {path} is accessible by group or others (mode {mode:04o}); '
            f'restrict it with: chmod 600 {path}'
        )
    return None


def read_secret_file(path: Path) -> str:
    """The secret held in the file at ``path`` (surrounding white space removed).

    :raises SecretError: if the file does not exist, cannot be read or is empty.
    """
    if not path.is_file():
        raise SecretError(f'The client secret file {path} does not exist.')
    try:
        secret = path.read_text(encoding='utf-8').strip()
    except OSError as exc:
        raise SecretError(f'The client secret file {path} cannot be read: {exc.strerror}.') from None
    if not secret:
        raise SecretError(f'The client secret file {path} is empty.')
    return secret


def read_secret_variable(name: str) -> str:
    """The secret held in the environment variable ``name``.

    :raises SecretError: if the variable is not set or empty.
    """
    secret = os.environ.get(name, '').strip()
    if not secret:
        raise SecretError(
            f'The environment variable {name} holding the FirecREST client secret is not set '
            "(set it in the shell that runs verdi and in the AiiDA daemon's environment)."
        )
    return secret


def resolve_secret(stored: str) -> str:
    """The client secret behind a stored value: ``env:VAR``, a file path, or (legacy, tests) the secret.

    :raises SecretError: if the reference cannot be resolved (the message names it, never the secret).
    """
    if is_env_reference(stored):
        return read_secret_variable(stored[len(ENV_PREFIX) :])
    if is_file_reference(stored):
        return read_secret_file(Path(stored).expanduser())
    return stored
