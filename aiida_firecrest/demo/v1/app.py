"""The v1 demo server's ASGI application: FirecREST v1's routes, its error shape, counters and faults.

``create_app(settings)`` is what ``python -m aiida_firecrest.demo.serve --api v1`` serves. The token
endpoint and the ``/_demo`` routes are the v2 demo's; every other answer is v1's.

Requests to v1's micro-services (:data:`COUNTED_PREFIXES`; not ``/oauth2`` nor ``/_demo``) are counted,
delayed and failed by the v2 demo's :func:`..middleware.serve_counted`, outside Starlette's error middleware
(as :class:`..app.DemoApp` does, so that a ``drop`` reaches the server's own ``send``); an injected
``429``, ``500`` or ``503`` is answered in v1's shape (:func:`fault_answer`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from .. import admin, auth
from ..errors import FirecrestHTTPError
from ..middleware import FAULT_MESSAGES, api_routes, fault_headers, route_template, serve_counted
from ..settings import DemoSettings, FaultRule
from . import compute, status, storage, tasks, utilities
from .errors import V1Error
from .state import V1State

__all__ = ('COUNTED_PREFIXES', 'V1App', 'create_app', 'fault_answer')

#: The micro-services whose requests are counted, delayed and faulted (not ``/oauth2`` nor ``/_demo``).
COUNTED_PREFIXES = ('/status', '/utilities', '/storage', '/compute', '/tasks')

#: What the ``error`` of an injected fault says: Kong's rate limiter (429), the micro-services' handler of
#: unhandled errors (500), an upstream that does not answer (503).
FAULT_ERRORS = {
    '429': 'API rate limit exceeded',
    '500': 'FirecREST Internal error',
    '503': 'Service unavailable',
}


def fault_answer(rule: FaultRule) -> JSONResponse:
    """v1's answer to an injected ``'429'`` (with ``Retry-After``), ``'500'`` or ``'503'``."""
    return V1Error(
        int(rule.kind), FAULT_MESSAGES[rule.kind], FAULT_ERRORS[rule.kind], fault_headers(rule)
    ).response()


class V1App(FastAPI):
    """The v1 demo's FastAPI app, whose micro-services' requests go through the demo's counters and faults."""

    def __init__(self, state: V1State) -> None:
        super().__init__(title='FirecREST v1 demo server', version='1.16.0', lifespan=_lifespan)
        self.demo = state
        self.state.demo = state
        self._routes: list[APIRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fastapi = super().__call__
        if scope['type'] != 'http' or not scope['path'].startswith(COUNTED_PREFIXES):
            await fastapi(scope, receive, send)
            return
        if self._routes is None:  # on first use, once every route is in
            self._routes = list(api_routes(self.router.routes))
        endpoint = f'{scope["method"]} {route_template(self._routes, scope) or scope["path"]}'
        await serve_counted(fastapi, self.demo, endpoint, scope, receive, send, fault_answer=fault_answer)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The server's life: when it ends, the tasks' work and the jobs that still run are stopped."""
    yield
    if isinstance(app, V1App):
        app.demo.shutdown()


def create_app(settings: DemoSettings) -> V1App:
    settings.create_directories()
    app = V1App(V1State(settings=settings))

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

    for module in (auth, admin, status, utilities, storage, compute, tasks):
        app.include_router(module.router)
    return app
