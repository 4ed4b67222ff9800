"""The demo server's ASGI application: one FastAPI app with FirecREST v2's routers.

``create_app(settings)`` is all a caller needs: uvicorn serves it on a socket (the full tier),
httpx's ``ASGITransport`` calls it in-process (the fast tier).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from . import admin, auth, compute, filesystem, handlers, status, transfer
from .adapter import VersionAdapter
from .middleware import DemoMiddleware, api_routes
from .settings import DemoSettings
from .state import DemoState

__all__ = ('DemoApp', 'create_app')


class DemoApp(FastAPI):
    """The demo's FastAPI app, whose every request and answer first goes through the demo's own layers.

    :class:`~.middleware.DemoMiddleware` (counters, latency, faults, common headers) around
    :class:`~.adapter.VersionAdapter` (the release's rewrites) wrap the whole FastAPI application,
    outside Starlette's own error middleware (``add_middleware`` would put them inside it), so that a
    ``drop`` reaches the server's own ``send`` and no error middleware answers in its place.
    """

    def __init__(self, state: DemoState) -> None:
        super().__init__(title='FirecREST v2 demo server', version='2.x.x', lifespan=_lifespan)
        self.demo = state
        """The server's state, also ``app.state.demo`` for the routes (:func:`~.state.demo_state`)."""
        self.state.demo = state
        self._outer_layers: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._outer_layers is None:  # built on first use, once every route is in (as Starlette's stack)
            fastapi = super().__call__
            routes = list(api_routes(self.router.routes))
            self._outer_layers = DemoMiddleware(VersionAdapter(fastapi, self.demo), self.demo, routes)
        await self._outer_layers(scope, receive, send)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The server's life: when it ends, the jobs that still run are stopped."""
    yield
    if isinstance(app, DemoApp):
        app.demo.shutdown()


def create_app(settings: DemoSettings) -> DemoApp:
    settings.create_directories()
    app = DemoApp(DemoState(settings=settings))
    handlers.install(app)
    for module in (auth, admin, status, filesystem, transfer, compute):
        app.include_router(module.router)
    return app
