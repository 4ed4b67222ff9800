"""Demo server: the exception handlers that give FastAPI's and Starlette's errors the real server's bodies.

* :class:`~.errors.FirecrestHTTPError`: its own body.
* Starlette's own errors (no such route: 404, no such method: 405) get the real server's error body,
  whose message is the bare HTTP reason (``Not Found``).
* FastAPI's validation errors become the real server's 400 bodies (``errorType: validation`` with
  ``data.fields``), or its ``Unable to decode request ...`` 400 when the required ``path`` /
  ``sourcePath`` is missing; that answer carries ``Connection: close`` because the real server resets
  the keep-alive connection after it.
* Unhandled exceptions are answered as the real server answers them (500, ``str(exc.args)``,
  ``user: null``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import FirecrestHTTPError
from .state import demo_state

DECODE_ERROR = 'Unable to decode request and retreive the required path or source_path parameter.'
"""The real server's message when the required path is missing (sic: 'retreive')."""


async def firecrest_error_handler(request: Request, exc: FirecrestHTTPError) -> JSONResponse:
    """An error answer of the API, in its own body."""
    return exc.response()


async def framework_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """No such route (404) or method (405), in the real server's error body: its message is the reason."""
    headers = dict(exc.headers) if exc.headers else None
    return FirecrestHTTPError(exc.status_code, str(exc.detail), headers=headers).response()


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """An unhandled exception as the real server answers it: 500, ``str(exc.args)``, ``user: null``."""
    return FirecrestHTTPError(500, str(exc.args)).response()


def _top_level_field(loc: tuple[Any, ...]) -> str:
    """The top-level field named in the error (``job`` for ``('body', 'job', 'workingDirectory')``)."""
    return str(loc[1]) if len(loc) > 1 else ''


def _is_missing_path(error: dict[str, Any]) -> bool:
    loc = tuple(error.get('loc', ()))
    return error.get('type') == 'missing' and loc in {('query', 'path'), ('body', 'sourcePath'), ('body',)}


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI validation errors as the real server renders them: 400, never 422."""
    return validation_answer(exc, demo_state(request).settings.username)


def validation_answer(exc: RequestValidationError, user: str) -> JSONResponse:
    """The real server's 400 for the validation errors of a request by ``user``."""
    errors = list(exc.errors())
    if any(_is_missing_path(error) for error in errors):
        return FirecrestHTTPError(400, DECODE_ERROR, user=user, headers={'Connection': 'close'}).response()
    fields = [
        {'location': str(error['loc'][0]), 'name': _top_level_field(error['loc']), 'message': error['msg']}
        for error in errors
    ]
    message = str(exc).lower()
    return FirecrestHTTPError(
        400, message, error_type='validation', data={'fields': fields}, user=user
    ).response()


def install(app: FastAPI) -> None:
    """Install the demo's exception handlers on ``app``."""
    app.exception_handler(FirecrestHTTPError)(firecrest_error_handler)
    app.exception_handler(RequestValidationError)(validation_error_handler)
    app.exception_handler(StarletteHTTPException)(framework_error_handler)
    app.exception_handler(Exception)(unhandled_error_handler)
