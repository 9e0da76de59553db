"""The configured MCP servers as a source of the registry's tools (``Registry.add_source``).

On the first look at the tools in a process (a model turn, a lookup of an unknown name,
an approved call in a Celery worker) the servers are read from the database and
connected, waiting at most ``TOOLS_MCP_CONNECT_WAIT`` seconds for them; after that the
configuration is read again every ``TOOLS_MCP_RELOAD_SECONDS`` (at once after a change
saved in this process), so a server added in the admin or by ``manage.py mcp`` reaches
every process. Each process writes what it sees of a server's state to its row.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.db.models.signals import m2m_changed, post_delete, post_save

from tools.mcp.catalog import split_name
from tools.mcp.connection import CONNECTED, Status
from tools.mcp.manager import Manager, Tuning
from tools.mcp.spec import ServerSpec, SpecError, spec_from_server
from tools.models import McpServer

logger = logging.getLogger(__name__)


def load_specs() -> list[ServerSpec]:
    """Every configured server; one with a broken configuration is logged and skipped."""
    specs = []
    for server in McpServer.objects.prefetch_related("allowed_groups"):
        try:
            groups = frozenset(g.pk for g in server.allowed_groups.all())
            specs.append(spec_from_server(server, group_ids=groups))
        except SpecError as exc:
            logger.error("MCP server %s is misconfigured and was skipped: %s", server.name, exc)
    return specs


def save_status(name: str, status: Status) -> None:
    """Write a server's state to its row (never call it on an event loop)."""
    McpServer.objects.filter(name=name).update(
        state=status.state, tool_count=status.tool_count, last_error=status.last_error[:2000],
        last_contact=status.last_contact, catalog=status.catalog)


class McpSource:
    def __init__(self, registry: Any, *, load: Any = load_specs, persist: bool = True,
                 tuning: Tuning | None = None) -> None:
        self.registry = registry
        self._load = load
        self._persist = persist
        self.manager = Manager(registry, tuning=tuning or tuning_from_settings(), on_status=self._on_status)
        self._loaded_at: float | None = None
        self._started = False

    def invalidate(self, **kwargs: Any) -> None:
        """The configuration changed in this process: read it again at the next look."""
        self._loaded_at = 0.0

    async def aready(self, registry: Any = None) -> None:
        loaded = self._loaded_at
        if loaded is not None and time.monotonic() - loaded < settings.TOOLS_MCP_RELOAD_SECONDS:
            return
        self._loaded_at = time.monotonic()
        try:
            specs = await sync_to_async(self._load)()
        except Exception as exc:  # no database here (a test without one, a migration not run yet)
            logger.warning("could not read the MCP server configuration: %s", exc)
            return
        await self.manager.configure(specs)
        if not self._started:
            self._started = True
            await self.manager.settled(settings.TOOLS_MCP_CONNECT_WAIT)

    def why_missing(self, name: str) -> str | None:
        parts = split_name(name)
        return self.manager.unavailable(parts[0]) if parts else None

    async def anotes(self, user: Any) -> list[str]:
        notes = []
        for name, connection in list(self.manager.connections.items()):
            if connection.status.state == CONNECTED:
                continue
            access = self.manager.access(name)
            if access is not None and not await access.acall(user):
                continue  # a user who may not use the server is not told it exists
            notes.append(f"The tools of the MCP server {name!r} are unavailable right now "
                         f"({connection.status.last_error or 'connecting'}); Toolgate is reconnecting. "
                         "If the user asks for them, say so.")
        return notes

    def _on_status(self, name: str, status: Status) -> None:
        if not self._persist:
            return
        snapshot = Status(status.state, status.tool_count, status.last_error, status.last_contact,
                          list(status.catalog))
        _writer.submit(_save_quietly, name, snapshot)  # one thread: the writes keep their order


_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolgate-mcp-state")


def _save_quietly(name: str, status: Status) -> None:
    try:
        save_status(name, status)
    except Exception as exc:
        logger.warning("could not record the state of MCP server %s: %s", name, exc)
    finally:
        close_old_connections()  # a worker thread of the manager's loop


def tuning_from_settings() -> Tuning:
    return Tuning(connect_timeout=settings.TOOLS_MCP_CONNECT_TIMEOUT,
                  backoff_max=settings.TOOLS_MCP_BACKOFF_MAX, ping_interval=settings.TOOLS_MCP_PING_SECONDS,
                  protocol=settings.TOOLS_MCP_PROTOCOL)


def connect_signals(source: McpSource) -> None:
    for signal in (post_save, post_delete):
        signal.connect(source.invalidate, sender=McpServer, weak=False,
                       dispatch_uid=f"tools.mcp.invalidate.{signal is post_save}")
    m2m_changed.connect(source.invalidate, sender=McpServer.allowed_groups.through, weak=False,
                        dispatch_uid="tools.mcp.invalidate.m2m")
