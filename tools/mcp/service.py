"""What the admin and ``manage.py mcp`` do to MCP servers, in one place.

Adding, changing and removing a server sends ``tools.signals.config_changed`` (approvals
audits it); ``discover`` connects from this process, lists the tools as the registry
would take them and records the server's state; ``refresh`` also bumps the server's
generation so that every other process reconnects and discovers again.
"""

from __future__ import annotations

import os
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F

from tools.mcp.connection import Status
from tools.mcp.manager import Manager
from tools.mcp.source import save_status, tuning_from_settings
from tools.mcp.spec import spec_from_server
from tools.models import McpServer
from tools.registry import Registry
from tools.signals import config_changed


class McpConfigError(ValueError):
    pass


def add(name: str, *, actor: str, command: list[str] | None = None, url: str = "",
        env: list[str] | None = None, headers: dict[str, str] | None = None,
        groups: list[str] | None = None, **fields: Any) -> McpServer:
    if McpServer.objects.filter(name=name).exists():
        raise McpConfigError(
            f"an MCP server named {name!r} already exists (remove it first, or use the admin)")
    if bool(command) == bool(url):
        raise McpConfigError(
            "give exactly one of --command (a stdio server) or --url (a Streamable HTTP server)")
    found = list(Group.objects.filter(name__in=groups or []))
    missing = sorted(set(groups or []) - {g.name for g in found})
    if missing:
        raise McpConfigError(f"no such group: {', '.join(missing)} (create it in the admin first)")
    if command and os.sep in command[0] and not os.path.isabs(command[0]):
        # a stdio server starts in its own working directory: keep the path the operator meant
        command = [os.path.abspath(command[0]), *command[1:]]
    server = McpServer(
        name=name, transport="stdio" if command else "http", command=command[0] if command else "",
        args=list(command[1:]) if command else [], url=url, env_vars=list(env or []),
        headers=dict(headers or {}), **fields)
    server.full_clean()
    with transaction.atomic():
        server.save()
        server.allowed_groups.set(found)
        changes = {key: [None, value] for key, value in _settings(server).items()}
        config_changed.send(McpServer, actor=actor, instance=server, action="created", changes=changes)
    return server


def remove(name: str, *, actor: str) -> None:
    server = get(name)
    with transaction.atomic():
        config_changed.send(McpServer, actor=actor, instance=server, action="deleted", changes={})
        server.delete()


def refresh(name: str, *, actor: str) -> McpServer:
    """Every process reconnects to the server and discovers its tools again."""
    server = get(name)
    McpServer.objects.filter(pk=server.pk).update(generation=F("generation") + 1)
    server.refresh_from_db()
    return server


def get(name: str) -> McpServer:
    try:
        return McpServer.objects.get(name=name)
    except McpServer.DoesNotExist:
        known = ", ".join(McpServer.objects.values_list("name", flat=True)) or "(none)"
        raise McpConfigError(f"there is no MCP server named {name!r}; configured: {known}") from None


def discover(name: str, *, wait: float | None = None) -> Status:
    """Connect from this process, list the tools, record and return the server's state."""
    server = get(name)
    spec = spec_from_server(server, group_ids=frozenset(server.allowed_groups.values_list("pk", flat=True)))
    tuning = tuning_from_settings()
    manager = Manager(Registry(), tuning=tuning)
    try:
        async_to_sync(_discover)(manager, spec, wait if wait is not None else tuning.connect_timeout + 5)
        status = manager.status(name) or Status(state="disconnected", last_error="it is disabled")
    finally:
        manager.close()
    if status.state == "connecting":
        status.last_error = status.last_error or "no answer in time"
    save_status(name, status)
    return status


async def _discover(manager: Manager, spec: Any, wait: float) -> None:
    await manager.configure([spec] if spec.enabled else [])
    await manager.settled(wait)


def _settings(server: McpServer) -> dict[str, Any]:
    return {f: getattr(server, f) for f in ("transport", "command", "args", "url", "env_vars", "headers",
                                           "enabled", "call_timeout", "default_risk")}
