"""Demo server: request counting, latency, fault injection and common headers.

:class:`DemoMiddleware` is the outermost layer of the demo's ASGI application (outside Starlette's own
error middleware: see :class:`~.app.DemoApp`), a pure ASGI middleware that works under uvicorn and
under httpx's ``ASGITransport`` alike. For every request to a FirecREST endpoint (``/status``,
``/filesystem``, ``/compute``; not ``/oauth2`` nor ``/_demo``) it:

1. counts it in ``DemoState.counters`` under ``'METHOD /route/template'``;
2. waits ``settings.latency`` seconds;
3. fails it as the first due :class:`~.settings.FaultRule` of ``settings.faults`` says (``429``
   with ``Retry-After``, ``500``, ``503`` or ``drop``); every rule whose ``endpoint`` matches
   counts the request towards its ``every``, and stops after ``count`` failures.

Every response gets the header ``f7t-appversion`` of ``settings.server_version`` (``2.x.x`` by
default, as from a real server built from source), and ``X-Request-ID`` / ``X-Correlation-ID`` as the
real server's starlette-context plugins give them: the request's own values, or new UUIDs; a request
whose value is not a UUID gets an empty 400 before anything else (those plugins run outermost).
Inside, :class:`~.adapter.VersionAdapter` makes the answers those of that release.

A ``drop`` closes the connection without any answer. Under uvicorn the middleware closes the
socket through the server's ``send`` callable (which is bound to uvicorn's request cycle, whose
``transport`` it closes), so the client sees the connection closed before a response, exactly
as a dropped connection. In process (httpx ``ASGITransport``), where there is no socket, it raises
``httpx.RemoteProtocolError('Server disconnected without sending a response.')``, which
``ASGITransport`` re-raises to the client: the same exception httpx raises for a real drop.

Unhandled exceptions are answered as the real server answers them (:mod:`.handlers`) and logged,
not passed on to the server.

The counting, latency and faults are :func:`serve_counted`, which the v1 demo (:mod:`.v1.app`) applies to
its own micro-services with its own error shape (a :data:`FaultAnswer`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator

import httpx
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import versions
from .errors import FirecrestHTTPError
from .settings import FaultRule
from .state import DemoState, FaultBookkeeping

logger = logging.getLogger(__name__)

FIRECREST_PREFIXES = ('/status', '/filesystem', '/compute')

FAULT_MESSAGES = {'429': 'Too Many Requests', '500': 'Internal Server Error', '503': 'Service Unavailable'}
TRACING_HEADERS = (b'x-request-id', b'x-correlation-id')

FaultAnswer = Callable[[FaultRule], ASGIApp]
"""The answer to a ``'429'``, ``'500'`` or ``'503'`` rule, in the error shape of the API that is served."""


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """All API routes, also those of included routers (newer FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, 'original_router', None)
        if nested is not None:
            yield from api_routes(nested.routes)


def route_template(routes: list[APIRoute], scope: Scope) -> str | None:
    """The path template of the route that serves ``scope`` (e.g. ``/status/{system_name}/nodes``)."""
    for route in routes:
        if route.methods and scope['method'] in route.methods and route.path_regex.match(scope['path']):
            return route.path
    return None


def _fault_state(state: DemoState) -> FaultBookkeeping:
    """The bookkeeping of the current fault rules, reset whenever the rules are replaced."""
    rules = state.settings.faults
    book = state.faults
    if book is None or book.rules is not rules:
        book = FaultBookkeeping(rules=rules, seen=[0] * len(rules), injected=[0] * len(rules))
        state.faults = book
    return book


def choose_fault(state: DemoState, path: str) -> FaultRule | None:
    """The rule that fails this request, if any (every matching rule counts the request)."""
    book = _fault_state(state)
    chosen = None
    for index, rule in enumerate(book.rules):
        if rule.endpoint is not None and rule.endpoint not in path:
            continue
        book.seen[index] += 1
        exhausted = rule.count is not None and book.injected[index] >= rule.count
        if chosen is None and not exhausted and book.seen[index] % max(rule.every, 1) == 0:
            book.injected[index] += 1
            chosen = rule
    return chosen


def fault_headers(rule: FaultRule) -> dict[str, str]:
    """The headers of the answer to ``rule``: ``Retry-After`` (whole seconds when whole) for a ``'429'``, and
    for a ``'503'`` that names one."""
    retry_after = rule.retry_after
    if rule.kind == '429' and retry_after is None:
        retry_after = 1
    if rule.kind not in ('429', '503') or retry_after is None:
        return {}
    return {'Retry-After': str(int(retry_after) if float(retry_after).is_integer() else retry_after)}


def _fault_response(rule: FaultRule) -> JSONResponse:
    """v2's answer to a fault rule: its error body, the status and message of the rule's kind."""
    error = FirecrestHTTPError(int(rule.kind), FAULT_MESSAGES[rule.kind], headers=fault_headers(rule) or None)
    return error.response()


async def serve_counted(
    app: ASGIApp,
    state: DemoState,
    endpoint: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    answer: Send | None = None,
    fault_answer: FaultAnswer = _fault_response,
) -> None:
    """Count a FirecREST request under ``endpoint``, delay it, then serve or fail it as the fault rules say.

    :param app: what serves the request when no fault does.
    :param send: the server's own ``send``, whose connection a ``drop`` closes.
    :param answer: what the answers go through (``send`` with the common headers); by default ``send``.
    :param fault_answer: the answer to a ``'429'``, ``'500'`` or ``'503'`` rule, in the API's error shape.
    """
    answer = answer or send
    state.counters[endpoint] += 1
    if state.settings.latency > 0:
        await asyncio.sleep(state.settings.latency)
    rule = choose_fault(state, scope['path'])
    if rule is None:
        await _answer_unhandled_errors(app, scope, receive, answer)
    elif rule.kind == 'drop':
        await _drop_connection(send)
    elif rule.kind == 'drop-after':
        await _serve_then_drop(app, scope, receive, send)
    else:
        await fault_answer(rule)(scope, receive, answer)


async def _drop_connection(send: Send) -> None:
    """Close the client connection without answering (see the module docstring)."""
    transport = getattr(getattr(send, '__self__', None), 'transport', None)
    if transport is None:
        raise httpx.RemoteProtocolError('Server disconnected without sending a response.')
    transport.close()
    await asyncio.sleep(0)


async def _serve_then_drop(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Do what the request asks, then close the connection instead of answering (the answer is lost)."""

    async def swallow(message: Message) -> None:
        pass

    await _answer_unhandled_errors(app, scope, receive, swallow)
    await _drop_connection(send)


class DemoMiddleware:
    """The outermost ASGI layer of the demo app: counters, latency, faults and the version header.

    :param app: the application it wraps (the version adapter around the FastAPI app).
    :param state: the server's state (settings, counters, fault bookkeeping).
    :param routes: the API routes of the FastAPI app, to name a request by its route template.
    """

    def __init__(self, app: ASGIApp, state: DemoState, routes: list[APIRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        tracing = tracing_ids(scope)
        if tracing is None:
            await send({'type': 'http.response.start', 'status': 400, 'headers': []})
            await send({'type': 'http.response.body', 'body': b''})
            return
        state = self.state
        app_version = versions.server_version(state.settings.server_version).app_version
        send_with_version = _with_headers(send, [(b'f7t-appversion', app_version.encode()), *tracing])
        template = route_template(self.routes, scope)
        if template is None or not template.startswith(FIRECREST_PREFIXES):
            await self.app(scope, receive, send_with_version)
            return
        endpoint = f'{scope["method"]} {template}'
        await serve_counted(self.app, state, endpoint, scope, receive, send, answer=send_with_version)


async def _answer_unhandled_errors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Keep an unhandled exception from reaching the server once its 500 answer is sent.

    Starlette answers it (with :func:`.handlers.unhandled_error_handler`) and then re-raises it; under
    httpx's ``ASGITransport`` that would reach the client as an exception instead of the answer.
    """
    completed = False

    async def tracking_send(message: Message) -> None:
        nonlocal completed
        completed = completed or (message['type'] == 'http.response.body' and not message.get('more_body'))
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except Exception:
        if not completed:
            raise
        logger.exception('Unhandled error in %s %s', scope['method'], scope['path'])


def tracing_ids(scope: Scope) -> list[tuple[bytes, bytes]] | None:
    """The ``X-Request-ID`` and ``X-Correlation-ID`` of the answer, or None if the request's are not UUIDs."""
    sent = dict(scope.get('headers', []))
    ids = []
    for name in TRACING_HEADERS:
        value = sent.get(name) or uuid.uuid4().hex.encode()
        try:
            uuid.UUID(value.decode('latin-1'))
        except ValueError:
            return None
        ids.append((name, value))
    return ids


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message['type'] == 'http.response.start':
            message['headers'] = [*message.get('headers', []), *headers]
        await send(message)

    return wrapped
