"""Every MCP session of this process, on one event loop of its own.

Why a dedicated thread: the sessions must outlive whoever first needed them, and the
callers run on many loops — Daphne's, the short-lived loops ``async_to_sync`` makes in
management commands and Celery tasks, a test's. A session bound to one of those would die
with it. So the sessions live on this manager's loop, and a call from any loop is handed
over with ``run_coroutine_threadsafe`` (tens of microseconds). Cancelling the caller
cancels the request on the manager's loop, which sends ``notifications/cancelled``.

Each process has its own manager and sessions, opened lazily on first use; a process
forked from one that had started them (a Celery prefork child) starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from tools.context import ToolContext
from tools.mcp import results
from tools.mcp.access import ServerAccess
from tools.mcp.connection import CONNECTED, Connection, Status, Unavailable
from tools.mcp.spec import ServerSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning:
    connect_timeout: float = 15.0
    backoff_start: float = 0.5
    backoff_max: float = 30.0
    watch_interval: float = 0.5
    ping_interval: float = 15.0
    protocol: str = "legacy"  # the SDK's Client mode: "legacy" (handshake) or "auto" (2026-07-28 if offered)


class Manager:
    """The sessions of this process. ``on_status(name, Status)`` is called on the manager's
    loop whenever a server's state changes (the source persists it for the admin)."""

    def __init__(self, registry: Any, *, tuning: Tuning | None = None,
                 on_status: Callable[[str, Status], None] | None = None) -> None:
        self.registry = registry
        self.tuning = tuning or Tuning()
        self.on_status = on_status
        self.connections: dict[str, Connection] = {}
        self._access: dict[str, ServerAccess] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    # -- the loop ------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start_thread()
            assert self._loop is not None
            return self._loop

    def _start_thread(self) -> None:
        if self._pid and self._pid != os.getpid():  # forked: the parent's sessions are not ours
            for connection in self.connections.values():
                self.registry.replace(connection.registered, [])  # until this process connects
            self.connections.clear()
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="toolgate-mcp", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop, self._pid = loop, os.getpid()

    def submit(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Any) -> Any:
        """Run ``coro`` on the manager's loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def close(self, timeout: float = 10.0) -> None:
        """Stop every session and the loop (tests, benchmarks, shutdown)."""
        if self._loop is None or self._pid != os.getpid():
            return
        with contextlib.suppress(Exception):
            self.submit(self._stop_all()).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._loop = None

    # -- configuration -------------------------------------------------------------------

    async def configure(self, specs: Iterable[ServerSpec]) -> None:
        """Make the running sessions match ``specs`` (from any loop)."""
        await self.run(self._configure(list(specs)))

    async def _configure(self, specs: list[ServerSpec]) -> None:
        wanted = {s.name: s for s in specs if s.enabled}
        for name in list(self.connections):
            if name not in wanted:
                await self.connections.pop(name).stop()
        for name, spec in wanted.items():
            access = self._access.setdefault(name, ServerAccess())
            access.group_ids = spec.group_ids
            current = self.connections.get(name)
            if current is not None and current.spec.connection_key() == spec.connection_key():
                if current.spec != spec:
                    current.retune(spec)
                continue
            if current is not None:
                await current.stop()
            connection = Connection(spec, registry=self.registry, tuning=self.tuning, access=access,
                                    call=self._caller, on_status=self._status)
            self.connections[name] = connection
            connection.start()

    async def _stop_all(self) -> None:
        for name in list(self.connections):
            await self.connections.pop(name).stop()

    async def settled(self, wait_at_most: float) -> None:
        """Wait (at most ``timeout`` s) until every server's first connection attempt is over."""
        async def wait() -> None:
            events = [c.attempted.wait() for c in list(self.connections.values())]
            if events:
                await asyncio.gather(*events)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_at_most):
                await self.run(wait())

    def _status(self, name: str, status: Status) -> None:
        if self.on_status is not None:
            try:
                self.on_status(name, status)
            except Exception:
                logger.exception("recording the state of MCP server %s failed", name)

    # -- reading state (any thread) ------------------------------------------------------

    def status(self, name: str) -> Status | None:
        connection = self.connections.get(name)
        return connection.status if connection is not None else None

    def unavailable(self, name: str) -> str | None:
        """Why the server's tools are not offered now, or ``None`` if it is connected/unknown."""
        connection = self.connections.get(name)
        if connection is None or connection.status.state == CONNECTED:
            return None
        return connection.unavailable_reason()

    def access(self, name: str) -> ServerAccess | None:
        return self._access.get(name)

    # -- calls ---------------------------------------------------------------------------

    def _caller(self, server: str, remote: str) -> Any:
        manager = self
        registered = f"{server}__{remote}"

        async def call_mcp_tool(_toolgate_context: ToolContext, **arguments: Any) -> Any:
            return await manager.call(server, remote, arguments, _toolgate_context, name=registered)

        return call_mcp_tool

    async def call(self, server: str, remote: str, arguments: dict[str, Any], context: ToolContext,
                   *, name: str = "") -> Any:
        """Call a tool of a server from any loop; the converted result, or an exception."""
        connection = self.connections.get(server)
        if connection is None or self._pid != os.getpid():
            raise Unavailable(f"the MCP server {server!r} is not configured in this process")
        progress = _forwarder(context) if context.progress is not None else None
        result = await self.run(connection.call(remote, arguments, progress))
        return results.convert(name or f"{server}__{remote}", result)


_pending: set[asyncio.Task[None]] = set()  # progress reports in flight (kept from the GC)


def _forwarder(context: ToolContext) -> Any:
    """A progress callback for the manager's loop that reports on the caller's loop."""
    caller = asyncio.get_running_loop()
    started = time.monotonic()

    async def forward(progress: float, total: float | None, message: str | None) -> None:
        def report() -> None:
            task = caller.create_task(context.report(progress, total, message))
            _pending.add(task)
            task.add_done_callback(_pending.discard)

        if not caller.is_closed():
            caller.call_soon_threadsafe(report)
        logger.debug("progress %s/%s after %.1f s", progress, total, time.monotonic() - started)

    return forward
