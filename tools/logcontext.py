"""Which tool call the current code is serving, for log lines.

A context variable, not an argument, because the lines that need it are written deep in
tools and libraries that never see the call. The pipeline binds ``call_id``, ``tool`` and,
once its record exists, ``tool_call_id``; whoever formats logs (``assistant.ops.logging``)
reads :func:`current`. Plain standard library on purpose: the tools app stays ignorant of
how, or whether, logs are formatted, and this module is safe to import while logging is
being configured, before Django is set up.

Each pipeline call runs in its own asyncio task (``call_many`` gathers them) or in a
:func:`isolated` scope, so parallel calls never see each other's ids; synchronous tools run
in a thread started with a copy of the caller's context (``tools/execution.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_fields: ContextVar[Mapping[str, Any]] = ContextVar("toolgate_tool_log_context", default=_EMPTY)


def current() -> Mapping[str, Any]:
    """The tool-call fields bound in this context (read-only)."""
    return _fields.get()


def update(**fields: Any) -> None:
    """Add fields for the rest of the current scope (``None`` values are left out)."""
    merged = {**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}
    _fields.set(MappingProxyType(merged))


def isolated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a coroutine function so that what it binds with :func:`update` ends with it.

    Awaited directly (not in a task of its own), a call would otherwise leave its ids
    behind in the caller's context, and the caller's next log lines would wear them.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _fields.set(_fields.get())
        try:
            return await fn(*args, **kwargs)
        finally:
            _fields.reset(token)

    return wrapper
