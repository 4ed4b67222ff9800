"""The checks of ``verdi computer configure firecrest``'s option values on their own, before any server check.

Each takes the click context and the value, returns the value as it is stored (stripped, normalised) and
raises ``click.BadParameter`` with a one-line reason.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

import click
import httpx

__all__ = ('valid_client_id', 'valid_non_negative', 'valid_positive', 'valid_temp_directory', 'valid_url')


def valid_url(ctx: click.Context, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip('/')
    parts = urlsplit(value)
    if parts.scheme not in {'http', 'https'} or not parts.netloc or any(char.isspace() for char in value):
        raise click.BadParameter(
            f'{value!r} is not an http(s) URL, e.g. https://api.cscs.ch/hpc/firecrest/v2'
        )
    try:
        httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise click.BadParameter(f'{value!r} is not a valid URL: {exc}') from None
    return value


def valid_client_id(ctx: click.Context, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter('the client id is empty')
    return value.strip() if value is not None else None


def valid_temp_directory(ctx: click.Context, value: str | None) -> str:
    if value is None or not value.strip():
        raise click.BadParameter('give an absolute path on the server (none could be proposed)')
    value = value.strip()
    if not posixpath.isabs(value):
        raise click.BadParameter(f'{value!r} is not an absolute path')
    return posixpath.normpath(value)


def valid_non_negative(ctx: click.Context, value: float | None) -> float | None:
    if value is not None and value < 0:
        raise click.BadParameter('must be 0 (use the server limit) or a positive number of MB')
    return value


def valid_positive(ctx: click.Context, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter('must be at least 1')
    return value


# --- defaults
