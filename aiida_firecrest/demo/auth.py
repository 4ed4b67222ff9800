"""Demo server: the OAuth2 token endpoint and the dependencies that guard every FirecREST route.

The real deployment gets its tokens from an identity provider (Keycloak) and FirecREST validates
the JWT. Here one process does both: ``POST /oauth2/token`` issues opaque random tokens
(client-credentials grant, one configured client) and :func:`current_user` checks them with the
same outcomes and messages as the real server (recorded in ``08-auth.json``):

* no ``Authorization`` header, or a non-Bearer scheme -> 401 ``Not authenticated``;
* an unknown token -> 401 ``Access token is invalid.``;
* a token with less than ``min_token_ttl`` seconds left -> 401 ``Access token expires too soon ...``;
* an expired token -> 401 ``Access token expired``.

Routers of every endpoint family use :func:`current_user` (the user name) and, for routes with a
``{system_name}`` path parameter, :func:`system_dependency` (404 ``System not found``).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse

from .errors import FirecrestHTTPError
from .routing import demo_settings
from .state import DemoState, demo_state

router = APIRouter()

TOKEN_SCOPE = 'openid firecrest-v2'


def _unauthorized(message: str) -> FirecrestHTTPError:
    return FirecrestHTTPError(401, message)


@router.post('/oauth2/token', include_in_schema=False)
async def issue_token(
    request: Request,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
) -> JSONResponse:
    """Issue a bearer token for the configured client (OAuth2 client-credentials grant)."""
    settings = demo_settings(request)
    valid_client = secrets.compare_digest(client_id, settings.client_id) and secrets.compare_digest(
        client_secret, settings.client_secret
    )
    if not valid_client:
        return JSONResponse({'error': 'invalid_client'}, status_code=401)
    if grant_type != 'client_credentials':
        return JSONResponse({'error': 'unsupported_grant_type'}, status_code=400)
    token = secrets.token_urlsafe(32)
    demo_state(request).tokens[token] = time.time() + settings.token_lifetime
    body = {
        'access_token': token,
        'token_type': 'Bearer',
        'expires_in': int(settings.token_lifetime),
        'scope': TOKEN_SCOPE,
    }
    return JSONResponse(body)


def current_user(request: Request) -> str:
    """FastAPI dependency: the name of the authenticated user, or a 401 error as the real server gives it."""
    return authenticated_user(demo_state(request), request.headers.get('authorization', ''))


def authenticated_user(state: DemoState, authorization: str) -> str:
    """The user an ``Authorization`` header authenticates on this server, or the real server's 401."""
    scheme, _, token = authorization.partition(' ')
    if scheme.lower() != 'bearer' or not token.strip():
        raise _unauthorized('Not authenticated')
    expiry = state.tokens.get(token.strip())
    if expiry is None:
        raise _unauthorized('Access token is invalid.')
    remaining = expiry - time.time()
    if remaining <= 0:
        raise _unauthorized('Access token expired')
    settings = state.settings
    if remaining < settings.min_token_ttl:
        raise _unauthorized(
            f'Access token expires too soon (less than {settings.min_token_ttl:g}s remaining).'
        )
    return settings.username


def system_dependency(system_name: str, request: Request, user: Annotated[str, Depends(current_user)]) -> str:
    """FastAPI dependency for routes under ``{system_name}``: the system's name, or 404 ``System not found``.

    It depends on :func:`current_user`, so authentication is checked first, as on the real server.
    """
    if system_name != demo_settings(request).system_name:
        raise FirecrestHTTPError(404, 'System not found', user=user)
    return system_name


CurrentUser = Annotated[str, Depends(current_user)]
"""Annotation for a route parameter holding the authenticated user's name."""

SystemName = Annotated[str, Depends(system_dependency)]
"""Annotation for a route parameter holding the (validated) ``{system_name}`` path parameter."""
