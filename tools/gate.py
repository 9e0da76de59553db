"""The seam between the pipeline and whatever decides whether a call may run.

The pipeline asks two questions of pluggable callables named in settings, and knows
nothing else about policy: ``TOOLS_ACCESS_POLICY(user, tool) -> bool`` (may this user use
the tool at all? tools they may not use are never shown to the model) and
``TOOLS_GATE(PreparedCall) -> GateDecision`` (may this exact call run now?).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from tools.context import ToolContext

if TYPE_CHECKING:
    from tools.definition import Tool

Action = Literal["allow", "require_approval", "deny"]


@dataclass(frozen=True)
class PreparedCall:
    """A validated call, exactly as it would run.

    ``recheck`` is true when the gate is asked again about a call it already saw: an
    approver's edited arguments of a parked call. The gate must decide them like a new
    call, but should not count them against rate limits a second time.
    """

    tool: Tool
    arguments: dict[str, Any]
    arguments_json: dict[str, Any]
    context: ToolContext
    call_id: str = ""
    record_id: int | None = None
    recheck: bool = False


@dataclass(frozen=True)
class GateDecision:
    action: Action
    reason: str = ""
    rule: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def allow(cls, rule: str = "", reason: str = "") -> GateDecision:
        return cls("allow", reason, rule)

    @classmethod
    def require_approval(cls, rule: str = "", reason: str = "", **data: Any) -> GateDecision:
        return cls("require_approval", reason, rule, data)

    @classmethod
    def deny(cls, rule: str = "", reason: str = "") -> GateDecision:
        return cls("deny", reason, rule)


Gate = Callable[[PreparedCall], Any]  # returns a GateDecision, or an awaitable of one
AccessPolicy = Callable[[Any, "Tool"], bool]


@cache
def load_gate() -> Gate | None:
    path = getattr(settings, "TOOLS_GATE", None)
    return import_string(path) if path else None


@cache
def load_access_policy() -> AccessPolicy | None:
    path = getattr(settings, "TOOLS_ACCESS_POLICY", None)
    return import_string(path) if path else None


def clear_caches() -> None:
    from tools.journal import load_journal

    load_gate.cache_clear()
    load_access_policy.cache_clear()
    load_journal.cache_clear()


FROM_SETTINGS: Any = object()


def can_use(user: Any, tool: Tool, policy: Any = FROM_SETTINGS) -> bool:
    """The tool's own permission, then the access policy (``TOOLS_ACCESS_POLICY`` unless
    another, or ``None`` for none, is given)."""
    if not tool.is_allowed_for(user):
        return False
    if policy is FROM_SETTINGS:
        policy = load_access_policy()
    return policy is None or bool(policy(user, tool))


def available_tools(user: Any, tools: Any, policy: Any = FROM_SETTINGS) -> list[Tool]:
    """The tools this user may use: the only ones ever shown to a model on their behalf."""
    return [t for t in tools if can_use(user, t, policy)]


async def acan_use(user: Any, tool: Tool, policy: Any = FROM_SETTINGS) -> bool:
    """:func:`can_use` from async code: permission and policy checks may query the database,
    so they run in a thread, but only when there is something to check. A policy with an
    async variant (``policy.acall``) is awaited directly: no thread hop per call."""
    if policy is FROM_SETTINGS:
        policy = load_access_policy()
    if tool.access is not None and not await tool.access.acall(user):  # the tool source's own check
        return False
    if tool.permission is None:
        if policy is None:
            return True
        acall = getattr(policy, "acall", None)
        if acall is not None:
            return bool(await acall(user, tool))
    return await sync_to_async(can_use)(user, tool, policy)


async def aavailable_tools(user: Any, tools: Any, policy: Any = FROM_SETTINGS) -> list[Tool]:
    """:func:`available_tools` from async code. Given a registry, its dynamic sources (MCP
    servers) are brought up to date first."""
    aready = getattr(tools, "aready", None)
    if aready is not None:
        await aready()
    return [tool for tool in list(tools) if await acan_use(user, tool, policy)]
