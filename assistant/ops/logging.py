"""Structured logs: one JSON object per line, carrying the ids of what was being served.

A log line is only useful in production if it can be tied to the request, the run and
the tool call it came from. Those ids live in context variables, set where each scope
begins, so no function has to pass them along:

* ``request_id`` — :class:`assistant.ops.middleware.RequestIdMiddleware`, per HTTP request;
* ``run_id``, ``conversation_id`` — the engine, for the duration of a drive;
* ``call_id``, ``tool``, ``tool_call_id`` — the tool pipeline, in ``tools.logcontext``
  (the tools app never imports this module).

asyncio tasks and ``sync_to_async`` threads inherit a copy of the context; the tool
thread pool is given one explicitly (``tools/execution.py``). :class:`ContextFilter`
stamps the ids on each record in the thread that logs it, so a handler that formats
later, elsewhere, still writes the right ones.

``LOG_FORMAT`` (``json``, or ``text`` for people; default ``text`` when ``DJANGO_DEBUG`` is
on, else ``json``) and ``LOG_LEVEL`` select the configuration (see docs/operations.md).
This module is loaded while logging is configured, before apps are ready: it imports no
models.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from assistant.env import env_str
from tools import logcontext

FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Context fields in the order they are written; other bound fields follow these.
CONTEXT_FIELDS = ("request_id", "conversation_id", "run_id", "tool", "call_id", "tool_call_id")
STAMP = "toolgate_context"  # the LogRecord attribute ContextFilter sets

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_fields: ContextVar[Mapping[str, Any]] = ContextVar("toolgate_log_context", default=_EMPTY)
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", STAMP,
}


# --- the context ------------------------------------------------------------------------


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields (``None`` values are skipped) to every log line written inside the block."""
    merged = {**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _fields.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _fields.reset(token)


def current_context() -> dict[str, Any]:
    """Everything bound here: this module's fields and the tool pipeline's, in field order."""
    bound = {**_fields.get(), **logcontext.current()}
    ordered = {name: bound[name] for name in CONTEXT_FIELDS if name in bound}
    ordered.update((name, value) for name, value in bound.items() if name not in ordered)
    return ordered


class ContextFilter(logging.Filter):
    """Stamp the current context on each record, in the thread that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, STAMP):
            setattr(record, STAMP, _request_fields(record, current_context()))
        return True


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    stamped = getattr(record, STAMP, None)
    return dict(stamped) if isinstance(stamped, dict) else _request_fields(record, current_context())


def _request_fields(record: logging.LogRecord, context: dict[str, Any]) -> dict[str, Any]:
    """Django logs 4xx/5xx responses after the middleware has returned, passing the
    request along (``extra={"request": ...}``): its id is taken from there."""
    request_id = getattr(getattr(record, "request", None), "request_id", None)
    if request_id and "request_id" not in context:
        context = {"request_id": request_id, **context}
    return context


# --- formatters -------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC), level, logger, message, the context ids,
    any ``extra=`` fields, and ``exception`` (the formatted traceback) when there is one.

    Never raises: a value JSON cannot encode is written as its ``str()``.
    """

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in _context_of(record).items():
            body.setdefault(name, value)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                body.setdefault(name, _request_line(value) if name == "request" else value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            body["exception"] = record.exc_text
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        return _dumps(body)


def _request_line(value: Any) -> Any:
    """Django's ``extra={"request": ...}`` as ``"GET /path"`` (no query string: it may hold secrets)."""
    method, path = getattr(value, "method", None), getattr(value, "path", None)
    return f"{method} {path}" if isinstance(method, str) and isinstance(path, str) else value


def _dumps(body: dict[str, Any]) -> str:
    try:
        return json.dumps(body, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # a dict with tuple keys, a circular structure …
        return json.dumps({k: v if isinstance(v, str | int | float | bool | None) else repr(v)
                           for k, v in body.items()}, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a terminal: ``time LEVEL logger: message [run_id=… call_id=…]``."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = _context_of(record)
        if context:
            line += " [" + " ".join(f"{name}={value}" for name, value in context.items()) + "]"
        return line


# --- configuration ----------------------------------------------------------------------


def log_format(debug: bool) -> str:
    """``LOG_FORMAT``: ``json`` or ``text``; by default text in development, else JSON."""
    value = (env_str("LOG_FORMAT") or ("text" if debug else "json")).lower()
    if value not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {value!r}")
    return value


def log_level() -> str:
    """``LOG_LEVEL``: a standard level name (default ``INFO``)."""
    value = (env_str("LOG_LEVEL") or "INFO").upper()
    if value not in LEVELS:
        raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, got {value!r}")
    return value


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: one stderr handler on the root logger, in the chosen format.

    Django's own loggers lose their default handlers and propagate to it, so requests,
    errors and the development server's access log come out in the same format, once.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "assistant.ops.logging.ContextFilter"}},
        "formatters": {
            "json": {"()": "assistant.ops.logging.JsonFormatter"},
            "text": {"()": "assistant.ops.logging.TextFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
        },
    }
