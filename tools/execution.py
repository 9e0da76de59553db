"""Running one tool body: in a thread when it is synchronous, under a timeout, with retries.

A synchronous tool runs on a dedicated thread pool so that it never blocks the event
loop. Python cannot kill a thread, so a stuck synchronous tool keeps its worker until it
returns, but the caller gets its ``timeout`` error on time and the process carries on;
tools that must be stoppable (``run_python``) run in a subprocess that is killed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from tools.context import ToolContext
from tools.definition import Tool
from tools.errors import ToolTimeout

_executor: ThreadPoolExecutor | None = None
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=getattr(settings, "TOOLS_THREADS", 32), thread_name_prefix="toolgate-tool"
        )
    return _executor


def reset_executor() -> None:
    """Drop the tool thread pool without waiting for stuck tools (tests, and after fork).

    Worker threads keep the database connections they opened; a fresh pool gives the
    next caller fresh threads.
    """
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=False)
        _executor = None


class ToolAborted(Exception):
    """The tool raised a ``BaseException`` that is not an ``Exception`` (``SystemExit``, say).

    A tool calling ``sys.exit()`` must fail its call, not stop the server: asyncio re-raises
    ``SystemExit`` out of the event loop, so it is converted inside the tool's own frame.
    ``KeyboardInterrupt`` and cancellation in the event loop are left alone.
    """


def _run_sync(fn: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except Exception:
        raise
    except BaseException as exc:  # no real KeyboardInterrupt reaches a worker thread
        raise ToolAborted(f"{type(exc).__name__}: {exc}") from exc
    finally:
        close_old_connections()


async def _run_async(fn: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return await fn(**kwargs)
    except (Exception, asyncio.CancelledError, KeyboardInterrupt):
        raise
    except BaseException as exc:
        raise ToolAborted(f"{type(exc).__name__}: {exc}") from exc


async def invoke(tool: Tool, kwargs: dict[str, Any], context: ToolContext) -> Any:
    """One attempt: call the tool with its timeout."""
    if tool.context_param:
        kwargs = {**kwargs, tool.context_param: context}
    timeout = tool.timeout or settings.TOOLS_DEFAULT_TIMEOUT
    # asyncio.timeout, not wait_for: no extra task per call, and a TimeoutError the tool
    # raises itself (a socket timeout, say) is told apart from running out of time.
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            if tool.is_async:
                return await _run_async(tool.fn, kwargs)
            loop = asyncio.get_running_loop()
            # In a copy of this context: the tool's log lines keep the run and call ids.
            run = contextvars.copy_context().run
            return await loop.run_in_executor(executor(), run, _run_sync, tool.fn, kwargs)
    except TimeoutError:
        if scope.expired():
            raise ToolTimeout(f"{tool.name} did not finish within {timeout:g} s") from None
        raise


async def precheck(tool: Tool, kwargs: dict[str, Any], context: ToolContext) -> None:
    """Run the tool's pre-check (if it has one) under the tool's timeout; it raises what
    the tool would. A synchronous pre-check runs on the tool thread pool, like the tool."""
    check = tool.precheck
    if check is None:
        return
    timeout = tool.timeout or settings.TOOLS_DEFAULT_TIMEOUT
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            if inspect.iscoroutinefunction(check):
                await check(kwargs, context)
                return
            loop = asyncio.get_running_loop()
            run = contextvars.copy_context().run
            bound = functools.partial(check, kwargs, context)
            await loop.run_in_executor(executor(), run, _run_sync, bound, {})
    except TimeoutError:
        if scope.expired():
            raise ToolTimeout(f"the pre-check of {tool.name} did not finish within {timeout:g} s") from None
        raise


async def invoke_with_retries(tool: Tool, kwargs: dict[str, Any], context: ToolContext) -> tuple[Any, int]:
    """Call the tool, retrying transient failures by its policy. Returns (value, attempts)."""
    attempt = 1
    while True:
        try:
            async with _limit(tool):
                return await invoke(tool, kwargs, context), attempt
        except Exception as exc:
            if attempt >= tool.retry.attempts or not tool.retry.retries(exc):
                exc.attempts = attempt  # type: ignore[attr-defined]
                raise
        await asyncio.sleep(tool.retry.delay(attempt))
        attempt += 1


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LIMIT = _NoLimit()


def _limit(tool: Tool) -> Any:
    """The tool's own concurrency limit in this process (its ``max_concurrency``)."""
    if tool.max_concurrency is None:
        return _NO_LIMIT
    per_loop = _semaphores.setdefault(asyncio.get_running_loop(), {})
    semaphore = per_loop.get(tool.name)
    if semaphore is None:
        semaphore = per_loop[tool.name] = asyncio.Semaphore(tool.max_concurrency)
    return semaphore
