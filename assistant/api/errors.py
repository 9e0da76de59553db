"""One error shape for every failure under /api/, with a stable ``code`` a client can branch on.

``{"error": {"code": "not_found", "message": "...", "details": ...}}`` — whether the error
comes from our views (:class:`ApiError`), from django-ninja (validation, authentication,
an unparsable body), from Django (an unknown URL, a method the path does not have) or from
a bug (500). Messages are written for the person reading the client's logs; ``details``
is structured (validation problems, the refused tool call) or ``null``.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

logger = logging.getLogger(__name__)

DEFAULT_CODES: dict[int, str] = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 422: "validation_error", 429: "rate_limited",
    500: "internal_error",
}
DEFAULT_MESSAGES: dict[int, str] = {
    401: "Authentication required: send 'Authorization: Bearer <token>' or sign in.",
    404: "Not found.",
    405: "This method is not allowed here.",
    500: "The server failed while handling this request; the error was logged.",
}


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorBody


class ApiError(Exception):
    """Raised by views to answer with an error; ``headers`` are added to the response."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str | None = None, message: str | None = None, details: Any = None,
                   headers: dict[str, str] | None = None) -> HttpResponse:
    content = json.dumps(body(code or DEFAULT_CODES.get(status, "error"),
                              message or DEFAULT_MESSAGES.get(status, "The request failed."), details),
                         default=str)
    response = HttpResponse(content, status=status, content_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="toolgate"'
    return response


def responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The error part of an operation's ``response=`` map: every status it may answer."""
    return dict.fromkeys(statuses, ErrorOut)


def _validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors]


def _summary(details: list[dict[str, Any]]) -> str:
    if not details:
        return "The request is not valid."
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "the request"
    others = len(details) - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    return f"The request is not valid: {where}: {first['message']}{more}."


def _repeated_query(request: HttpRequest) -> HttpResponse | None:
    details = [{"loc": ["query", name], "type": "repeated",
                "message": f"given {len(values)} times; it takes one value"}
               for name, values in sorted(request.GET.lists()) if len(values) > 1]
    return error_response(422, "validation_error", _summary(details), details) if details else None


def single_valued_query(run: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a query parameter given more than once: every parameter of this API takes one
    value, and quietly using the last of ``?tool=a&tool=b`` would answer a question the
    client did not ask. Wraps an operation's ``run`` (a "view" decorator: before parsing)."""
    if inspect.iscoroutinefunction(run):
        @functools.wraps(run)
        async def arun(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = _repeated_query(request)
            return refused if refused is not None else await run(request, *args, **kwargs)
        return arun

    @functools.wraps(run)
    def srun(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        refused = _repeated_query(request)
        return refused if refused is not None else run(request, *args, **kwargs)
    return srun


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's own handlers (``{"detail": ...}``, HTML in DEBUG) with ours."""

    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = _validation_details(exc.errors)
        return error_response(422, "validation_error", _summary(details), details)

    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(401)

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = DEFAULT_CODES.get(exc.status_code, "error")
        message = str(exc)
        if exc.status_code == 400 and "parse request body" in message:
            code, message = "invalid_json", "The request body is not valid JSON."
        elif exc.status_code == 403 and "CSRF" in message:
            code = "csrf_failed"
            message = "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header."
        return error_response(exc.status_code, code, message)

    def unreadable_upload(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        # A multipart body without a boundary or cut short (issue 14's uploads): the client's fault.
        return error_response(400, "bad_multipart", f"The multipart/form-data body cannot be read: {exc}")

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404)

    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.error("API request %s %s failed", request.method, request.path, exc_info=exc)
        return error_response(500)

    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(AuthenticationError, authentication_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(MultiPartParserError, unreadable_upload)
    api.add_exception_handler(Exception, server_error)
    api.add_decorator(single_valued_query, mode="view")
