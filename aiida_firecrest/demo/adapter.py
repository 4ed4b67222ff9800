"""Demo server: the ASGI layer that makes the recorded server's routers answer as another release.

What each release does differently is in :mod:`.versions`; :class:`VersionAdapter` rewrites the
request bodies and answers of the routes where ``settings.server_version`` differs from the recorded
server, so that the routers stay written for one server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import authenticated_user
from .errors import FirecrestHTTPError
from .handlers import validation_answer
from .state import DemoState
from .versions import (
    Json,
    ServerVersion,
    integer_job_ids,
    legacy_download_request,
    legacy_upload_request,
    server_version,
    staged_transfer_answer,
    systems_answer,
    userinfo_answer,
    with_method,
    without_compression,
)

METHOD_NOT_AVAILABLE = 'Requested transfer method is not available.'

RequestRewrite = Callable[[dict[str, Any]], dict[str, Any]]
AnswerRewrite = Callable[[Json], Json]

_USERINFO = re.compile(r'^/status/[^/]+/userinfo$')
_SYSTEMS = re.compile(r'^/status/systems$')
_STAGED = re.compile(r'^/filesystem/[^/]+/transfer/(upload|download)$')
_ARCHIVES = re.compile(r'^/filesystem/[^/]+/(ops|transfer)/(compress|extract)$')
_WITH_JOB_IDS = re.compile(r'^/(compute/[^/]+/jobs|filesystem/[^/]+/transfer/)')


def _answer_rewrites(version: ServerVersion, path: str) -> list[AnswerRewrite]:
    rewrites: list[AnswerRewrite] = []
    if _USERINFO.match(path):
        rewrites.append(lambda answer: userinfo_answer(version, answer))
    if _SYSTEMS.match(path):
        rewrites.append(lambda answer: systems_answer(version, answer))
    if _STAGED.match(path):
        rewrites.append(lambda answer: staged_transfer_answer(version, answer))
    if not version.string_job_ids and _WITH_JOB_IDS.match(path):
        rewrites.append(integer_job_ids)
    return rewrites


def _request_rewrite(version: ServerVersion, method: str, path: str, offered: str) -> RequestRewrite | None:
    if method != 'POST':
        return None
    staged = _STAGED.match(path)
    if staged and version.directives == 'flat':
        return legacy_upload_request if staged.group(1) == 'upload' else legacy_download_request
    if staged and not version.checks_transfer_method:
        return lambda body: with_method(body, offered)
    if not version.compression and _ARCHIVES.match(path):
        return without_compression
    return None


class VersionAdapter:
    """ASGI layer that makes the recorded server's routers answer as ``settings.server_version``.

    It sits inside :class:`~.middleware.DemoMiddleware` (counted, delayed and faulted requests stay as
    they are). It refuses a staged transfer by a method the system does not offer (2.5.0 and later)
    or does not work in the demo (streamer, wormhole), and rewrites the JSON request bodies and
    answers of the routes that the release treats differently.
    """

    def __init__(self, app: ASGIApp, state: DemoState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        version = server_version(settings.server_version)
        path = scope['path']
        rewrite = _request_rewrite(version, scope['method'], path, settings.transfer_method)
        staged = scope['method'] == 'POST' and _STAGED.match(path)
        if rewrite is not None or staged:
            body = await _read_body(receive)
            refusal: JSONResponse | None
            try:
                body = _rewritten(body, rewrite)
            except ValidationError as exc:
                refusal = _validation_answer(exc, settings.username)
            else:
                refusal = _method_refusal(scope, body, self.state) if staged else None
            if refusal is not None:
                await refusal(scope, _replay(b''), send)
                return
            receive = _replay(body)
        rewrites = _answer_rewrites(version, path)
        await self.app(scope, receive, _rewriting_answers(send, rewrites) if rewrites else send)


def _rewritten(body: bytes, rewrite: RequestRewrite | None) -> bytes:
    """The request body after ``rewrite``; a body that is not a JSON object is left to the route."""
    if rewrite is None:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return json.dumps(rewrite(data)).encode() if isinstance(data, dict) else body


def _method_refusal(scope: Scope, body: bytes, state: DemoState) -> JSONResponse | None:
    """The answer to a staged transfer whose method the system does not offer, or None to go on.

    As on the real server, a request that is not authenticated, names another system or whose body does
    not name a method gets the route's own answer; a method the demo offers but does not implement
    (streamer, wormhole) gets a 501 that says so.
    """
    settings = state.settings
    try:
        user = authenticated_user(state, Headers(scope=scope).get('authorization', ''))
        requested = _requested_method(json.loads(body))
    except (FirecrestHTTPError, ValueError):
        return None
    if requested is None or scope['path'].split('/')[2] != settings.system_name:
        return None
    if requested != settings.transfer_method:
        return FirecrestHTTPError(400, METHOD_NOT_AVAILABLE, user=user).response()
    if requested != 's3':
        message = f'The demo server does not implement the {requested} transfer method.'
        return FirecrestHTTPError(501, message, user=user).response()
    return None


def _requested_method(body: Json) -> str | None:
    """The ``transferMethod`` of a staged-transfer body (pyfirecrest writes some keys in snake_case)."""
    if not isinstance(body, dict):
        return None
    directives = body.get('transferDirectives', body.get('transfer_directives'))
    if not isinstance(directives, dict):
        return None
    method = directives.get('transferMethod', directives.get('transfer_method'))
    return method if isinstance(method, str) else None


def _validation_answer(exc: ValidationError, user: str) -> JSONResponse:
    """The demo's 400 for a request body an older release's model refuses."""
    errors = [{**error, 'loc': ('body', *error['loc'])} for error in exc.errors()]
    return validation_answer(RequestValidationError(errors), user)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get('body', b''))
        if not message.get('more_body'):
            return b''.join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands over ``body`` once, then waits as a client that sent everything."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {'type': 'http.request', 'body': body, 'more_body': False}
        return {'type': 'http.disconnect'}

    return receive


def _rewriting_answers(send: Send, rewrites: list[AnswerRewrite]) -> Send:
    """A ``send`` that applies ``rewrites`` to a successful JSON answer (errors pass unchanged)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message['type'] == 'http.response.start':
            if message['status'] >= 300:
                await send(message)
                return
            start = message
            return
        if start is None or message['type'] != 'http.response.body':
            await send(message)
            return
        chunks.append(message.get('body', b''))
        if message.get('more_body'):
            return
        body = _rewritten_answer(b''.join(chunks), rewrites)
        headers = [
            (name, value) for name, value in start.get('headers', []) if name.lower() != b'content-length'
        ]
        await send({**start, 'headers': [*headers, (b'content-length', str(len(body)).encode())]})
        await send({'type': 'http.response.body', 'body': body})

    return wrapped


def _rewritten_answer(body: bytes, rewrites: list[AnswerRewrite]) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    for rewrite in rewrites:
        data = rewrite(data)
    return json.dumps(data).encode()
