"""Give every HTTP request an id that its log lines carry and its response echoes.

An incoming ``X-Request-ID`` (set by a proxy or a client) is kept when it looks like an
id, so one request can be followed across systems; anything else — too long, or with
characters that could forge log fields or headers — is replaced by a fresh UUID rather
than trusted. The id is bound for the whole request (see :mod:`assistant.ops.logging`),
stored as ``request.request_id`` and sent back as ``X-Request-ID``.

Works in both modes: under ASGI (Daphne) it stays on the event loop instead of costing a
thread hop per request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from assistant.ops.logging import log_context

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")


def request_id_from(request: HttpRequest) -> str:
    """The client's id when it is acceptable, else a new UUID."""
    given = request.META.get(META_KEY, "")
    if isinstance(given, str) and _VALID.match(given):
        return given
    return str(uuid.uuid4())


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        with log_context(request_id=request_id):
            response = await self.get_response(request)
        response[HEADER] = request_id
        return response
