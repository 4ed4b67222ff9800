"""The v1 demo server's ASGI application: FirecREST v1's routes, its error shape, counters and latency.

``create_app(settings)`` is what ``python -m aiida_firecrest.demo.serve --api v1`` serves. The token
endpoint and the ``/_demo`` routes are the v2 demo's; every other answer is v1's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .. import admin, auth
from ..errors import FirecrestHTTPError
from ..middleware import api_routes, route_template
from ..settings import DemoSettings
from . import compute, status, storage, tasks, utilities
from .errors import V1Error
from .state import V1State

__all__ = ('COUNTED_PREFIXES', 'create_app')

#: The micro-services whose requests are counted and delayed (not ``/oauth2`` nor ``/_demo``).
COUNTED_PREFIXES = ('/status', '/utilities', '/storage', '/compute', '/tasks')


def create_app(settings: DemoSettings) -> FastAPI:
    settings.create_directories()
    state = V1State(settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.shutdown()

    app = FastAPI(title='FirecREST v1 demo server', version='1.16.0', lifespan=lifespan)
    app.state.demo = state

    @app.exception_handler(V1Error)
    async def _v1_error(request: Request, exc: V1Error) -> JSONResponse:
        return exc.response()

    @app.exception_handler(FirecrestHTTPError)
    async def _shared_error(request: Request, exc: FirecrestHTTPError) -> JSONResponse:
        """The token checks of the shared ``current_user`` (401), in v1's shape."""
        return V1Error(exc.status, exc.message).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ', '.join(str(error.get('loc', ['?'])[-1]) for error in exc.errors())
        return V1Error(400, 'Invalid request', f'invalid or missing: {fields}').response()

    @app.middleware('http')
    async def _count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith(COUNTED_PREFIXES):
            state.counters[f'{request.method} {_template(app, request)}'] += 1
            if settings.latency:
                await asyncio.sleep(settings.latency)
        return await call_next(request)

    for module in (auth, admin, status, utilities, storage, compute, tasks):
        app.include_router(module.router)
    return app


def _template(app: FastAPI, request: Request) -> str:
    """The path template of the route serving ``request`` (its path if none does)."""
    return route_template(list(api_routes(app.router.routes)), request.scope) or request.url.path
