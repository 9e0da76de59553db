"""One MCP server's session: connect, discover, keep it open, reconnect with backoff.

Runs entirely on the manager's event loop (``tools.mcp.manager``). The session is kept
open for the life of the process and shared by every call to the server. While the server
is unreachable its tools are taken out of the registry, so the model is not offered
them; they come back when the server does. Discovery walks every page of ``tools/list``
and runs again whenever the server sends ``notifications/tools/list_changed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost, ToolsListChanged
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tools.mcp import catalog
from tools.mcp.spec import STDIO, ServerSpec, ensure_workdir

logger = logging.getLogger(__name__)

CONNECTED, CONNECTING, DISCONNECTED, DISABLED = "connected", "connecting", "disconnected", "disabled"
MAX_PAGES = 1000  # a server whose cursor never ends cannot hang discovery
MODERN = "2026-07-28"  # the first revision without the handshake: list changes come by subscriptions/listen
CLIENT_INFO = mcp_types.Implementation(name="toolgate", version="0.1.0")


class Unavailable(Exception):
    """The server is not connected; the message says why."""


@dataclass
class Status:
    """What the admin shows of a server, as this process last saw it."""

    state: str = "new"
    tool_count: int = 0
    last_error: str = ""
    last_contact: datetime | None = None
    catalog: list[dict[str, Any]] = field(default_factory=list)


class Connection:
    def __init__(self, spec: ServerSpec, *, registry: Any, tuning: Any, access: Any,
                 call: Callable[[str, str], Any], on_status: Callable[[str, Status], None]) -> None:
        self.spec = spec
        self.registry = registry
        self.tuning = tuning
        self.access = access
        self._call_fn = call
        self._on_status = on_status
        self.status = Status()
        self.client: Client | None = None
        self.listing: list[Any] = []
        self.registered: list[str] = []
        self.attempted = asyncio.Event()  # the first connection attempt has finished, either way
        self._relist = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listening = False  # a subscriptions/listen stream for tool-list changes is open
        self.built: dict[str, tuple[Any, Any]] = {}  # remote name -> (listed item, Tool): reused if unchanged

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"mcp:{self.spec.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._unregister()

    def retune(self, spec: ServerSpec) -> None:
        """Same session, new policy settings (groups, timeout, risk): rebuild the tools."""
        self.spec = spec
        self.built = {}  # built under the old settings
        if self.client is not None:
            self._register(self.listing)

    def lost(self) -> None:
        """A call found the connection gone: reconnect now rather than at the next check."""
        self._lost.set()

    async def _supervise(self) -> None:
        delay = self.tuning.backoff_start
        while True:
            self._set(CONNECTING)
            started = time.monotonic()
            try:
                async with self._open() as client:
                    self.client = client
                    await self._discover(client)
                    self._set(CONNECTED, error="")
                    self.attempted.set()
                    await self._serve(client)
                error = "the server closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure to reach or talk to the server
                error = describe_error(exc)
            finally:
                self.client = None
                self._unregister()
            if time.monotonic() - started > self.tuning.backoff_max:
                delay = self.tuning.backoff_start  # it was up for a while: a fresh failure
            logger.warning("MCP server %s: %s; retrying in %.1f s", self.spec.name, error, delay)
            self._set(DISCONNECTED, error=error, tool_count=0)
            self.attempted.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.tuning.backoff_max)

    def _open(self) -> contextlib.AbstractAsyncContextManager[Client]:
        spec = self.spec
        stack = contextlib.AsyncExitStack()

        @contextlib.asynccontextmanager
        async def opened() -> Any:
            async with stack:
                if spec.missing_env():
                    raise Unavailable("environment variable(s) not set in Toolgate's environment: "
                                      + ", ".join(spec.missing_env()))
                if spec.transport == STDIO:
                    workdir = ensure_workdir(spec)
                    errlog = stack.enter_context((workdir / "stderr.log").open("a", encoding="utf-8"))
                    params = StdioServerParameters(command=spec.command, args=list(spec.args),
                                                   env=spec.environment(), cwd=str(workdir))
                    transport: Any = stdio_client(params, errlog=errlog)
                else:
                    http = create_mcp_http_client(headers=spec.header_values(), timeout=httpx2.Timeout(
                        self.tuning.connect_timeout, read=max(spec.timeout, 300.0)))
                    await stack.enter_async_context(http)
                    transport = streamable_http_client(spec.url, http_client=http)
                client = Client(transport, mode=getattr(self.tuning, "protocol", "legacy"),
                                message_handler=self._on_message, client_info=CLIENT_INFO, cache=None)
                # asyncio's timeout, not anyio's: the client's task group outlives this block.
                async with asyncio.timeout(self.tuning.connect_timeout):
                    await stack.enter_async_context(client)
                yield client

        return opened()

    async def _serve(self, client: Client) -> None:
        """Until the connection is lost: re-discover on list_changed, check it is alive.

        On 2026-07-28 there is no ping and list changes come on a ``subscriptions/listen``
        stream, which a task of its own follows; a dead stdio server still ends the session
        (its pipe closes), and a dead HTTP server fails the next call."""
        modern = is_modern(client)
        listener = asyncio.get_running_loop().create_task(self._listen(client)) if modern else None
        try:
            await self._watch(client, ping=not modern)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener

    async def _listen(self, client: Client) -> None:
        """Follow the server's ``subscriptions/listen`` stream: each ``ToolsListChanged``
        makes the session discover again. A lost stream is opened again, with a discovery
        (events are not replayed); a server that does not serve it is noted once."""
        delay = self.tuning.backoff_start
        while True:
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    self.listening = bool(subscription.honored.tools_list_changed)
                    if not self.listening:
                        logger.info("MCP server %s does not send tool-list changes", self.spec.name)
                        return
                    delay = self.tuning.backoff_start
                    async for event in subscription:
                        if isinstance(event, ToolsListChanged):
                            self._relist.set()
                return  # the server closed the stream gracefully
            except (ListenNotSupportedError, MCPError) as exc:
                self.listening = False
                logger.info("MCP server %s: no subscriptions/listen (%s); tool-list changes are not "
                            "followed on this session", self.spec.name, exc)
                return
            except SubscriptionLost:
                self.listening = False
                self._relist.set()  # something may have changed while the stream was down
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.tuning.backoff_max)

    async def _watch(self, client: Client, *, ping: bool) -> None:
        next_ping = time.monotonic() + self.tuning.ping_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tuning.watch_interval):
                    await _first(self._relist.wait(), self._lost.wait())
            if self._lost.is_set() or _closed(client):
                self._lost.clear()
                return
            if self._relist.is_set():
                self._relist.clear()
                await self._discover(client)
            if ping and time.monotonic() >= next_ping:
                with anyio.fail_after(self.tuning.connect_timeout):
                    await client.session.send_request(mcp_types.PingRequest(), mcp_types.EmptyResult)
                self._touch()
                next_ping = time.monotonic() + self.tuning.ping_interval

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._relist.set()
        elif isinstance(message, Exception):
            logger.info("MCP server %s: transport error: %s", self.spec.name, message)

    # -- discovery -----------------------------------------------------------------------

    async def _discover(self, client: Client) -> None:
        listing = await list_all_tools(client, self.tuning.connect_timeout)
        self.listing = listing
        self._register(listing)

    def _register(self, listing: list[Any]) -> None:
        mine = set(self.registered)
        entries = catalog.build(
            self.spec, listing, call=lambda remote: self._call_fn(self.spec.name, remote),
            access=self.access, taken=lambda name: name in self.registry and name not in mine,
            previous=self.built)
        self.built = {e.remote_name: (item, e.tool) for item, e in zip(listing, entries, strict=True)
                      if e.tool is not None}
        tools = [e.tool for e in entries if e.tool is not None]
        refused = dict((tool.name, reason) for tool, reason in self.registry.replace(self.registered, tools))
        self.registered = [t.name for t in tools if t.name not in refused]
        rows = []
        for entry in entries:
            if entry.name in refused and entry.tool is not None:
                entry = catalog.Entry(entry.remote_name, entry.name, refused=refused[entry.name])
            if entry.refused:
                logger.warning("MCP server %s: tool refused: %s", self.spec.name, entry.refused)
            rows.append(entry.as_dict())
        self.status.catalog = rows
        self._set(self.status.state, tool_count=len(self.registered))

    def _unregister(self) -> None:
        if self.registered:
            self.registry.replace(self.registered, [])
            self.registered = []

    # -- calls ---------------------------------------------------------------------------

    async def call(self, remote: str, arguments: dict[str, Any], progress: Any) -> Any:
        client = self.client
        if client is None:
            raise Unavailable(self.unavailable_reason())
        try:
            result = await client.call_tool(remote, arguments, progress_callback=progress)
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self._drop(client, "the server closed the connection during a call")
                raise Unavailable(
                    f"the MCP server {self.spec.name!r} closed the connection during the call (it may "
                    "have crashed); the call was not retried, since it may have had its effect") from None
            raise
        self._touch()
        return result

    def _drop(self, client: Client, error: str) -> None:
        """The session is dead: no further call may use it, and its tools go at once (the
        supervisor reconnects)."""
        if self.client is client:
            self.client = None
            self._unregister()
            self._set(DISCONNECTED, error=error, tool_count=0)
        self.lost()

    def unavailable_reason(self) -> str:
        why = self.status.last_error or "it is connecting"
        return f"the MCP server {self.spec.name!r} is not connected ({why}); Toolgate keeps reconnecting"

    # -- status --------------------------------------------------------------------------

    def _touch(self) -> None:
        self.status.last_contact = datetime.now(UTC)

    def _set(self, state: str, *, error: str | None = None, tool_count: int | None = None) -> None:
        status = self.status
        status.state = state
        if error is not None:
            status.last_error = error
        if tool_count is not None:
            status.tool_count = tool_count
        if state == CONNECTED:
            self._touch()
        self._on_status(self.spec.name, status)


async def list_all_tools(client: Client, page_timeout: float) -> list[Any]:
    """Every tool the server lists, following ``nextCursor`` page by page."""
    tools: list[Any] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        with anyio.fail_after(page_timeout):
            page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor or cursor in seen:
            return tools
        seen.add(cursor)
    logger.warning("tools/list still had more pages after %d; the rest were not read", MAX_PAGES)
    return tools


def is_modern(client: Client) -> bool:
    """Whether the session speaks 2026-07-28 or later (no handshake, no ping)."""
    return str(getattr(client.session, "protocol_version", "") or "") >= MODERN


def describe_error(exc: BaseException) -> str:
    """One line an administrator can act on."""
    if isinstance(exc, BaseExceptionGroup):
        inner = exc.exceptions[0] if exc.exceptions else exc
        return describe_error(inner)
    if isinstance(exc, TimeoutError):
        return "no answer in time (the server did not respond to the handshake or a request)"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, httpx2.HTTPError):
        return f"HTTP error: {type(exc).__name__}: {exc}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:1000]


def _closed(client: Client) -> bool:
    dispatcher = getattr(client.session, "_dispatcher", None)
    return bool(getattr(dispatcher, "_closed", False))


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
