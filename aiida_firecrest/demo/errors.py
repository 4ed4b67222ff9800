"""FirecREST's error bodies, and how the real server derives status codes from remote failures.

A failed remote command (coreutils, Slurm, PBS) is a :class:`RemoteCommandError` carrying its stderr;
:func:`remote_errors` turns it into the real server's HTTP error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi.responses import JSONResponse


class FirecrestHTTPError(Exception):
    """An error answer of the API, rendered as ``{"errorType", "message", "causedBy", "data", "user"}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = 'error',
        data: dict[str, Any] | None = None,
        user: str | None = None,
        headers: dict[str, str] | None = None,
        caused_by: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.data = data
        self.user = user
        self.headers = headers
        self.caused_by = caused_by

    def response(self) -> JSONResponse:
        body = {
            'errorType': self.error_type,
            'message': self.message,
            'causedBy': self.caused_by,
            'data': self.data,
            'user': self.user,
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def remote_failure(stderr: str, exit_status: int = 1, *, user: str | None = None) -> FirecrestHTTPError:
    """The real server's error for a failed remote command: the status comes from stderr, not exit code."""
    if 'No such file or directory' in stderr:
        status = 404
    elif 'Permission denied' in stderr or 'Operation not permitted' in stderr:
        status = 403
    elif 'File exists' in stderr:
        status = 400
    else:
        status = 500
    message = f'Remote process failed with exit status:{exit_status} and error message:{stderr}'
    return FirecrestHTTPError(status, message, user=user)


def slurm_failure(stderr: str, exit_status: int = 1, *, user: str | None = None) -> FirecrestHTTPError:
    """The error the real server returns when a Slurm command fails (always 500)."""
    message = f'Unexpected Slurm command response. exit_status:{exit_status} std_err:{stderr}'
    return FirecrestHTTPError(500, message, user=user)


def command_timeout_error(user: str) -> FirecrestHTTPError:
    """The real server's 408 when a remote command outlives its command timeout."""
    return FirecrestHTTPError(408, 'Command execution timeout limit exceeded.', user=user)


class RemoteCommandError(Exception):
    """A failed remote command: its stderr and exit status, as the real server reports them."""

    def __init__(self, stderr: str, exit_status: int = 1) -> None:
        super().__init__(stderr)
        self.stderr = stderr
        self.exit_status = exit_status

    def http_error(self, user: str) -> FirecrestHTTPError:
        """The real server's answer to this failure (its status comes from the stderr)."""
        return remote_failure(self.stderr, self.exit_status, user=user)


@contextlib.contextmanager
def remote_errors(user: str) -> Iterator[None]:
    """Turn a :class:`RemoteCommandError` (of any kind) into the real server's HTTP error."""
    try:
        yield
    except RemoteCommandError as exc:
        raise exc.http_error(user) from exc


class CommandTimeoutError(RemoteCommandError):
    """A command ran longer than the server's command timeout; the real server answers 408."""

    def __init__(self) -> None:
        super().__init__('', 124)

    def http_error(self, user: str) -> FirecrestHTTPError:
        return command_timeout_error(user)
