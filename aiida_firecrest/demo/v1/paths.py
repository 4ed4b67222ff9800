"""How the v1 routes run a file command: its input checked, its failure turned into v1's error answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator

from ..access import check_path
from ..errors import FirecrestHTTPError, RemoteCommandError
from ..settings import DemoSettings
from .errors import V1Error, command_error

__all__ = ('FORBIDDEN_INPUT', 'checked', 'invalid_input', 'operation', 'run_tool', 'timeout_error')

TIMEOUT_MESSAGE = 'Command has finished with timeout signal'
#: What the server refuses in every path, name and argument it is given (``validate_input``).
FORBIDDEN_INPUT = re.compile(r'[<>|;"\'&\\()\x00-\x1f`]')


def invalid_input(value: str | None) -> str:
    """What the server says of a user's value (``validate_input``): ``''`` if it takes it."""
    if value is None:
        return 'not specified'
    if not value:
        return 'is empty'
    return 'has invalid char' if FORBIDDEN_INPUT.search(value) else ''


def checked(settings: DemoSettings, path: str | None, name: str, command: str, user: str) -> str:
    """``path`` (a form field or query parameter called ``name``) as the server accepts it.

    :raises V1Error: 400 for a missing or empty value, one with a character the server refuses, a relative
        path or one outside the file systems.
    """
    problem = invalid_input(path)
    if problem or path is None:
        raise V1Error(400, f'Error on {command} operation', f"'{name}' {problem}")
    with operation(command):
        return check_path(settings, path, user)


@contextlib.contextmanager
def operation(command: str) -> Iterator[None]:
    """Within this block, a failed command (emulated or refused) becomes v1's 400 for ``command``."""
    description = f'Error on {command} operation'
    try:
        yield
    except RemoteCommandError as exc:
        raise command_error(exc.stderr, description) from exc
    except FirecrestHTTPError as exc:
        if 'absolute path' in exc.message or 'does not match any' in exc.message:
            raise V1Error(
                400, description, exc.message, {'X-Invalid-Path': 'path is an invalid path'}
            ) from exc
        raise command_error(exc.message, description) from exc


def timeout_error(command: str) -> V1Error:
    """The answer of a command that outlived ``UTILITIES_TIMEOUT`` (what pyfirecrest's fallback looks for)."""
    return V1Error(400, f'Error on {command} operation', TIMEOUT_MESSAGE, {'X-Timeout': TIMEOUT_MESSAGE})


async def run_tool(argv: list[str], timeout: float) -> None:
    """Run a real command (``cp``, ``mv``) as the server's ``timeout N cmd`` does.

    :raises RemoteCommandError: with its stderr if it fails.
    :raises TimeoutError: if it outlives ``timeout`` seconds (it is killed).
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, 'LC_ALL': 'C'},
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise TimeoutError from None
    if process.returncode:
        raise RemoteCommandError(stderr.decode(errors='replace').strip(), process.returncode)
