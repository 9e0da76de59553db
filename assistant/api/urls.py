"""URLs of the API, mounted at ``api/``.

django-ninja answers a method a path does not have with a plain-text 405, and Django an
unknown path with an HTML 404; under /api/ both become the API's JSON error shape (with
the ``Allow`` header kept), so a client never has to parse HTML.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from assistant.api.app import api
from assistant.api.errors import error_response

app_name = api.urls_namespace


def _json_405(response: HttpResponseBase) -> HttpResponseBase:
    if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
        return error_response(405, headers={"Allow": response.get("Allow", "")})
    return response


def _with_json_405(view: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(view):
        @functools.wraps(view)
        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return _json_405(await view(request, *args, **kwargs))
        return async_view

    @functools.wraps(view)
    def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _json_405(view(request, *args, **kwargs))
    return sync_view


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_response(404, "not_found", f"There is no API endpoint at {request.path}.")


def _api_patterns() -> list[Any]:
    patterns = list(api.urls[0])
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _with_json_405(pattern.callback)
    return [*patterns, re_path(r"^(?P<rest>.*)$", not_found)]


urlpatterns = _api_patterns()
