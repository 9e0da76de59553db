"""The policy every call passes before it runs: allow, require approval, or deny.

Decided on the exact validated arguments that would run, in this order: the tool's
enabled flag and allowed groups, then its rules (first match wins), then its approval
setting, then the default from the tool's risk level (``high`` needs approval). Nothing the
model or the chatting user sends is consulted except those arguments, so neither can ever
mark a call approved.

Policies are read from a small in-process snapshot that is rebuilt when a policy changes
in this process (signals) and at most ``POLICY_TTL`` seconds after a change elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from approvals.models import ApprovalScope, PolicyRule, ToolPolicy
from tools import ratelimit
from tools.definition import RateLimit
from tools.gate import GateDecision, PreparedCall

POLICY_TTL = 2.0


@dataclass(frozen=True)
class Snapshot:
    policies: dict[str, ToolPolicy]
    rules: dict[str, list[PolicyRule]]
    groups: dict[str, frozenset[int]]
    taken_at: float = field(default_factory=time.monotonic)


_snapshot: Snapshot | None = None
_version = 0  # bumped when what the access policy decides may have changed (tools.catalog)


def _fingerprint(snap: Snapshot) -> tuple[Any, ...]:
    return tuple(sorted((name, p.enabled, tuple(sorted(snap.groups.get(name, frozenset()))))
                        for name, p in snap.policies.items()))


def _load() -> Snapshot:
    policies = {p.tool_name: p for p in ToolPolicy.objects.prefetch_related("allowed_groups")}
    rules: dict[str, list[PolicyRule]] = {}
    for rule in PolicyRule.objects.filter(enabled=True).select_related("policy").order_by("order", "pk"):
        rules.setdefault(rule.policy.tool_name, []).append(rule)
    groups = {name: frozenset(g.pk for g in p.allowed_groups.all()) for name, p in policies.items()}
    return Snapshot(policies, rules, groups)


def snapshot() -> Snapshot:
    global _snapshot, _version
    current = _snapshot
    if current is None or time.monotonic() - current.taken_at > POLICY_TTL:
        fresh = _load()
        if current is not None and _fingerprint(fresh) != _fingerprint(current):
            _version += 1  # a change made in another process, seen on reload
        current = _snapshot = fresh
    return current


async def asnapshot() -> Snapshot:
    current = _snapshot
    if current is None or time.monotonic() - current.taken_at > POLICY_TTL:
        current = await sync_to_async(snapshot)()
    return current


def invalidate(**kwargs: Any) -> None:
    global _snapshot, _version
    _snapshot = None
    _version += 1


def version() -> int:
    """Changes whenever who may use which tool may have changed here, or was seen to have
    changed elsewhere when the snapshot was reloaded (tools.catalog caches on it). Never
    reads the database: cheap enough to ask on every run, safe on the event loop."""
    return _version


for _model in (ToolPolicy, PolicyRule):
    post_save.connect(invalidate, sender=_model, dispatch_uid=f"approvals.invalidate.save.{_model.__name__}")
    post_delete.connect(invalidate, sender=_model, dispatch_uid=f"approvals.invalidate.del.{_model.__name__}")
m2m_changed.connect(invalidate, sender=ToolPolicy.allowed_groups.through,
                    dispatch_uid="approvals.invalidate.m2m")
# A user joining or leaving a group changes which group-limited tools they may use.
m2m_changed.connect(invalidate, sender=get_user_model().groups.through,
                    dispatch_uid="approvals.invalidate.user_groups")


def _access(snap: Snapshot, user: Any, tool: Any) -> bool | frozenset[int]:
    """The decision if the policy alone settles it, else the groups the user must be in."""
    policy = snap.policies.get(tool.name)
    if policy is None:
        return True
    if not policy.enabled:
        return False
    allowed = snap.groups.get(tool.name) or frozenset()
    if not allowed:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return allowed


def can_use(user: Any, tool: Any) -> bool:
    """``TOOLS_ACCESS_POLICY``: a disabled tool, or one limited to groups the user is not in,
    is never offered to the model and never runs."""
    access = _access(snapshot(), user, tool)
    if isinstance(access, bool):
        return access
    return user.groups.filter(pk__in=access).exists()


async def acan_use(user: Any, tool: Any) -> bool:
    """:func:`can_use` for async callers: the same decision without a thread hop, unless the
    tool is limited to groups (then the user's groups are read)."""
    access = _access(await asnapshot(), user, tool)
    if isinstance(access, bool):
        return access
    return await user.groups.filter(pk__in=access).aexists()


can_use.acall = acan_use  # type: ignore[attr-defined]  # see tools.gate.acan_use
can_use.version = version  # type: ignore[attr-defined]  # see tools.catalog


async def gate(call: PreparedCall) -> GateDecision:
    """``TOOLS_GATE``: the decision for one validated call.

    A call that would need approval runs without it when an approver allowed this tool for
    this conversation (:class:`~approvals.models.ApprovalScope`) and the scope has calls and
    time left: the decision names the scope (``scope:<id>``), so the audit log records which
    approval allowed it. Deny rules, disabled tools and rate limits are decided first, so a
    scope never overrides them.
    """
    decision = await _gate(call)
    if decision.action == "require_approval" and not call.recheck:
        conversation = str((call.context.scope or {}).get("conversation", "") or "")
        if conversation and _scope_eligible(await asnapshot(), call.tool.name):
            scope = await ApprovalScope.ause(call.tool.name, conversation, call.context.user_id)
            if scope is not None:
                return GateDecision.allow(rule=f"scope:{scope.pk}", reason=(
                    f"allowed for this conversation by approval #{scope.approval_id} "
                    f"(call {scope.used_calls} of {scope.max_calls})"))
    return decision


def _scope_eligible(snap: Snapshot, tool_name: str) -> bool:
    policy = snap.policies.get(tool_name)
    return policy is not None and policy.enabled and policy.scope_eligible


async def _gate(call: PreparedCall) -> GateDecision:
    snap = await asnapshot()
    name = call.tool.name
    policy = snap.policies.get(name)
    if policy is not None and not policy.enabled:
        return GateDecision.deny(rule="policy:disabled", reason=f"{name} is disabled by an administrator")
    if policy is not None and policy.rate_limit and not call.recheck:
        limit = RateLimit.parse(policy.rate_limit, name)
        assert limit is not None
        retry_after = await ratelimit.acquire(f"policy:{name}", call.context.user_id, limit)
        if retry_after is not None:
            return GateDecision.deny(rule="policy:rate_limit", reason=(
                f"the administrator's limit of {limit.count} calls per {limit.seconds} s was reached; "
                f"try again in {retry_after:.0f} s"))
    for rule in snap.rules.get(name, []):
        if rule.matches(call.arguments_json):
            label = f"rule:{rule.pk}:{rule.name}"
            if rule.action == PolicyRule.Action.DENY:
                return GateDecision.deny(rule=label, reason=rule.name)
            if rule.action == PolicyRule.Action.REQUIRE_APPROVAL:
                return GateDecision.require_approval(rule=label, reason=rule.name)
            return GateDecision.allow(rule=label, reason=rule.name)
    if policy is not None and policy.approval == ToolPolicy.Approval.ALWAYS:
        return GateDecision.require_approval(rule="policy:always",
                                             reason="an administrator requires approval")
    if policy is not None and policy.approval == ToolPolicy.Approval.NEVER:
        return GateDecision.allow(rule="policy:never")
    if call.tool.risk == "high":
        return GateDecision.require_approval(rule="risk:high", reason=f"{name} is a high-risk tool")
    return GateDecision.allow(rule=f"risk:{call.tool.risk}")
