"""Deciding approval requests, and carrying the decisions out.

Views, admin actions and tasks only parse, authorise, call one function here and
serialise. A decision is final: it is claimed with a conditional update that must change
exactly one row, so a second decision — concurrent or not — is refused with a message
saying who decided first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import audit, dispatch, notifications, notify
from approvals.models import ApprovalRequest, ApprovalScope, ToolPolicy
from approvals.signals import call_settled
from tools import records
from tools.context import ToolContext
from tools.errors import ErrorType, ToolError
from tools.models import ToolCall
from tools.pipeline import Pipeline
from tools.registry import registry
from tools.results import redactor, restore_redacted

logger = logging.getLogger(__name__)

APPROVE, DENY = "approve", "deny"


class DecisionError(Exception):
    """A decision that cannot be taken; the message is shown to the approver as is."""


def decide(request_id: int, approver: Any, decision: str, *, reason: str = "",
           edited_arguments: dict[str, Any] | None = None,
           allow_conversation: bool = False) -> ApprovalRequest:
    """Approve (optionally with edited arguments) or deny one pending request.

    ``allow_conversation`` also allows later calls of the same tool in the same conversation,
    within the bounds of the tool's policy (see :func:`_grant_scope`).
    """
    if decision not in (APPROVE, DENY):
        raise DecisionError(_("Unknown decision %(decision)r: use 'approve' or 'deny'.")
                            % {"decision": decision})
    if approver is None or not approver.is_authenticated or not approver.has_perm("approvals.decide"):
        raise DecisionError(_("You do not have permission to decide approval requests."))
    related = ("tool_call", "decided_by", "requester")
    request = ApprovalRequest.objects.select_related(*related).get(pk=request_id)
    if request.requester_id == approver.pk and not settings.APPROVALS_ALLOW_SELF_APPROVAL:
        raise DecisionError(_("You cannot decide your own request: another approver must do it."))
    _refuse_if_decided(request)
    if request.expires_at <= timezone.now():
        expire(request)
        raise DecisionError(_("This request expired at %(when)s.")
                            % {"when": f"{request.expires_at:%Y-%m-%d %H:%M:%S %Z}"})
    reason = reason.strip()
    if decision == DENY and not reason:
        raise DecisionError(_("Give a reason to deny: it is shown to the user and the model."))
    if allow_conversation:
        _check_scope_allowed(request, decision)
    edited = _checked_edit(request, approver, edited_arguments) if decision == APPROVE else None
    status = ApprovalRequest.Status.APPROVED if decision == APPROVE else ApprovalRequest.Status.DENIED
    with transaction.atomic():
        if not request.claim_decision(status, decided_by=approver, reason=reason, edited_arguments=edited):
            request.refresh_from_db()
            _refuse_if_decided(request)
            raise DecisionError(_("This request could not be decided; reload and try again."))
        entry = audit.decision_entry(request, approver)
        if allow_conversation:
            scope = _grant_scope(request, approver)
            entry.data["scope"] = {"id": scope.pk, "max_calls": scope.max_calls,
                                   "expires_at": scope.expires_at.isoformat()}
        audit.record(entry)
        dispatch.carry_out(request.pk)
        notify.on_commit_changed(request.pk, notify.REMOVED, request.requester_id)
        notifications.announce(request.pk, notifications.DECIDED)
    return request


@dataclass
class BulkDenial:
    """What :func:`deny_many` did: the requests it denied, and why it left the others."""

    denied: list[ApprovalRequest] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def deny_many(request_ids: Iterable[int], approver: Any, reason: str) -> BulkDenial:
    """Deny several requests with one reason, each through :func:`decide`.

    Every request is its own decision — its own claim (a conditional update of exactly one
    row), its own audit event, its own notification — so a request decided meanwhile by
    someone else, the approver's own request, or one that expired is reported in
    ``refused`` with :func:`decide`'s message, and the others are still denied.
    """
    if not reason.strip():
        raise DecisionError(_("Give a reason to deny: it is shown to the user and the model."))
    outcome = BulkDenial()
    for pk in sorted(set(request_ids)):
        try:
            outcome.denied.append(decide(pk, approver, DENY, reason=reason))
        except ApprovalRequest.DoesNotExist:
            outcome.refused.append((pk, _("There is no such approval request.")))
        except DecisionError as exc:
            outcome.refused.append((pk, str(exc)))
    return outcome


def expire(request: ApprovalRequest) -> bool:
    """pending → expired (the clock decides); the run then gets a ``denied`` result."""
    with transaction.atomic():
        if not request.claim_decision(ApprovalRequest.Status.EXPIRED, reason="expired"):
            return False
        audit.record(audit.decision_entry(request, "system:expiry"))
        dispatch.carry_out(request.pk)
        notify.on_commit_changed(request.pk, notify.REMOVED, request.requester_id)
        notifications.announce(request.pk, notifications.EXPIRED)
    return True


def remind_due() -> int:
    """Remind approvers of pending requests expiring within ``APPROVALS_REMIND_BEFORE``
    seconds, once each (claimed by a conditional update of ``reminded_at``)."""
    before = settings.APPROVALS_REMIND_BEFORE
    if before <= 0:
        return 0
    now = timezone.now()
    due = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING, reminded_at=None,
                                         expires_at__gt=now, expires_at__lte=now + timedelta(seconds=before))
    reminded = 0
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            claim = ApprovalRequest.objects.filter(pk=pk, reminded_at=None,
                                                   status=ApprovalRequest.Status.PENDING)
            if claim.update(reminded_at=now) == 1:
                notifications.announce(pk, notifications.REMINDER)
                reminded += 1
    return reminded


def expire_stale() -> int:
    """Expire every pending request past its expiry time (Celery beat / the embedded timer)."""
    stale = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING,
                                           expires_at__lte=timezone.now())
    return sum(1 for request in stale.select_related("tool_call") if expire(request))


async def carry_out(approval_id: int) -> None:
    """Run an approved call exactly once, or close a denied/expired one; then tell the chat.

    Idempotent: a call already settled is not touched again. A call found ``running`` was
    started by a worker that died (late acknowledgement redelivered this task); it is
    closed as failed rather than run a second time, and the run carries on.
    """
    request = await ApprovalRequest.objects.select_related("tool_call", "requester").aget(pk=approval_id)
    record = request.tool_call
    pipeline = Pipeline()
    if request.status == ApprovalRequest.Status.APPROVED:
        if record.status == ToolCall.Status.PENDING:
            context = ToolContext(user=request.requester, scope=record.scope or {})
            await pipeline.run_approved(record.pk, context, arguments=request.edited_arguments)
        elif record.status == ToolCall.Status.RUNNING:
            await sync_to_async(records.fail_interrupted)(record, "the worker")
    elif request.status in (ApprovalRequest.Status.DENIED, ApprovalRequest.Status.EXPIRED):
        if record.status == ToolCall.Status.PENDING:
            expired = request.status == ApprovalRequest.Status.EXPIRED
            reason = "the request expired before anyone decided it" if expired else request.reason
            await pipeline.deny_pending(record.pk, reason, rule=f"approval:{request.status}")
    else:
        return
    await call_settled.asend(
        sender=ApprovalRequest, tool_call_id=record.pk, run_id=request.run_id,
        conversation_id=request.conversation_id, decision=request.status, reason=request.reason,
        approval_id=request.pk,
    )


def _check_scope_allowed(request: ApprovalRequest, decision: str) -> None:
    if decision != APPROVE:
        raise DecisionError(_("Only an approval can allow later calls for this conversation."))
    if not request.conversation_id:
        raise DecisionError(_("This call belongs to no conversation, so it cannot be allowed for one."))
    policy = ToolPolicy.objects.filter(tool_name=request.tool_name).first()
    if policy is None or not policy.scope_eligible:
        raise DecisionError(_("The policy of %(tool)s does not allow approving it for a whole conversation; "
                              "approve this call alone.") % {"tool": request.tool_name})


def _grant_scope(request: ApprovalRequest, approver: Any) -> ApprovalScope:
    """The approval also covers the next ``scope_max_calls`` calls of this tool in this
    conversation for ``scope_max_minutes``; still subject to every deny rule."""
    policy = ToolPolicy.objects.get(tool_name=request.tool_name)
    return ApprovalScope.objects.create(
        approval=request, tool_name=request.tool_name, conversation_id=request.conversation_id,
        user_id=request.requester_id, granted_by=approver, max_calls=policy.scope_max_calls,
        expires_at=timezone.now() + timedelta(minutes=policy.scope_max_minutes))


def revoke_scope(scope_id: int, actor: Any) -> ApprovalScope:
    """End a conversation scope now; later calls need approval again. Audited."""
    if actor is None or not actor.is_authenticated or not actor.has_perm("approvals.decide"):
        raise DecisionError(_("You do not have permission to revoke approval scopes."))
    scope = ApprovalScope.objects.select_related("approval__tool_call").get(pk=scope_id)
    if not scope.revoke(actor):
        raise DecisionError(_("Scope #%(scope)s was already revoked.") % {"scope": scope.pk})
    request = scope.approval
    audit.record(audit.Entry(
        "approval.scope_revoked", tool_name=scope.tool_name, conversation_id=scope.conversation_id,
        user_id=request.requester_id, username=request.tool_call.username, actor=actor.get_username(),
        outcome="revoked",
        data={"scope_id": scope.pk, "approval_id": request.pk, "used_calls": scope.used_calls}))
    return scope


def _refuse_if_decided(request: ApprovalRequest) -> None:
    if not request.is_pending:
        values = {"status": request.get_status_display().lower(),
                  "who": request.decided_by.get_username() if request.decided_by else _("the system"),
                  "when": f"{request.decided_at:%Y-%m-%d %H:%M:%S %Z}" if request.decided_at else ""}
        raise DecisionError(
            _("This request was already %(status)s by %(who)s at %(when)s; decisions are final.") % values
            if values["when"] else
            _("This request was already %(status)s by %(who)s; decisions are final.") % values)


def _checked_edit(request: ApprovalRequest, approver: Any,
                  edited: dict[str, Any] | None) -> dict[str, Any] | None:
    """The approver's edit, if it passes every check a new call would: permission,
    validation, the tool's pre-check and the policy (deny rules, argument rules).

    A refused edit is audited (``approval.edit_refused``) and raised as a DecisionError
    naming the reason; the request stays pending, so the approver can approve the call as
    asked, edit it again or deny it. Edited arguments that the policy would park for
    approval pass: approving the edit is that approval.
    """
    if edited is None:
        return None
    if not isinstance(edited, dict):
        raise DecisionError(_("Edited arguments must be a JSON object."))
    tool = registry.get(request.tool_name)
    if tool is None:
        raise DecisionError(_("The tool %(tool)s is no longer installed.") % {"tool": request.tool_name})
    record = request.tool_call
    parked = record.pending_arguments if record.pending_arguments is not None else record.arguments
    context = ToolContext(user=request.requester, call_id=record.call_id, scope=record.scope or {})
    error = async_to_sync(Pipeline().check_edit)(tool.name, restore_redacted(edited, parked), context)
    if error is None:
        return edited if edited != request.arguments else None
    message = _refusal(tool.name, error)
    audit.record(audit.edit_refused_entry(request, approver, redactor()(edited), error.as_dict(), message))
    raise DecisionError(message)


def _refusal(tool_name: str, error: ToolError) -> str:
    """What the approver is told when their edit is refused."""
    still = "The request is still pending: approve it as asked, edit it again or deny it."
    if error.type == ErrorType.DENIED:
        reason = error.extra.get("reason") or error.message
        return f"The edited arguments are denied by the policy: {reason}. {still}"
    if error.type == ErrorType.VALIDATION_ERROR:
        problems = "; ".join(f"{d.get('path') or '(arguments)'}: {d['problem']}" for d in error.details)
        return f"The edited arguments are not valid for {tool_name}: {problems or error.message}"
    if error.type == ErrorType.PERMISSION_DENIED:
        return f"The requester may no longer use {tool_name}, so the call cannot run. Deny it instead."
    return f"The edited arguments are refused by {tool_name}: {error.message}"
