"""Who is calling: a personal API token (``Authorization: Bearer tg_…``) or the browser session.

Tried in that order. A Bearer header that names no active token is refused at once (401
``invalid_token``) rather than falling back to a session cookie, so a revoked token never
"works" by accident in a browser. A read-only token may only read: any other method is a
403 ``read_only_token``. The session works for the browser, with Django's CSRF check on
unsafe methods (a token needs none: a cross-site page cannot send the header).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from assistant.api import tokens
from assistant.api.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenAuth(HttpBearer):
    """A personal API token, made at /settings/tokens/."""

    async def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = await sync_to_async(tokens.authenticate)(token.strip())
        if found is None:
            raise ApiError(401, "invalid_token", "The API token is unknown or has been revoked.",
                           headers={"WWW-Authenticate": 'Bearer realm="toolgate", error="invalid_token"'})
        if found.mcp_only:
            raise ApiError(403, "mcp_only_token",
                           "This token is limited to MCP use: connect to /mcp with it, not to the REST API.")
        if found.read_only and request.method not in SAFE_METHODS:
            raise ApiError(403, "read_only_token", (
                f"This token is read-only: it may only be used to read (GET), not {request.method}."))
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token (``X-CSRFToken``)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, only once we know there is a session

    async def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = await request.auser()
        if not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise ApiError(403, "csrf_failed",
                           "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header.")
        return user


def caller(request: HttpRequest) -> Any:
    """The authenticated user of an API request."""
    return request.auth  # type: ignore[attr-defined]


AUTH = [TokenAuth(), SessionAuth()]
