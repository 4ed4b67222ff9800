"""The demo server's ASGI application: one FastAPI app with FirecREST v2's routers.

``create_app(settings)`` is all a caller needs: uvicorn serves it on a socket (the full tier),
httpx's ``ASGITransport`` calls it in-process (the fast tier).
"""

from __future__ import annotations

import functools

from fastapi import FastAPI

from . import admin, auth, compute, filesystem, middleware, status, transfer
from .settings import DemoSettings
from .state import DemoState


def create_app(settings: DemoSettings) -> FastAPI:
    settings.create_directories()
    app = FastAPI(title='FirecREST v2 demo server', version='2.x.x')
    app.state.demo = DemoState(settings=settings)

    middleware.install(app)
    for module in (auth, admin, status, filesystem, transfer, compute):
        app.include_router(module.router)
        for hook_name, hooks in (
            ('on_startup', app.router.on_startup),
            ('on_shutdown', app.router.on_shutdown),
        ):
            hook = getattr(module, hook_name, None)
            if hook is not None:
                hooks.append(functools.partial(hook, app))
    return app
