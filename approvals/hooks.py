"""What approvals does when the tool pipeline writes a ToolCall (``TOOLS_JOURNAL``).

Called inside the pipeline's own transaction, so the audit events, the approval request
and the ToolCall row are committed together or not at all. Approvers are told of a new
request only after that commit.

Every write of a ToolCall becomes events (``tools.journal`` lists the stages):

* ``opened`` — ``call.proposed`` always; then ``call.rejected`` (unknown tool, no
  permission, invalid arguments: nothing was validated) or ``call.validated``, then for a
  rate-limited call ``call.rejected``, else ``policy.decided`` with the rule, then
  ``call.denied``, ``approval.requested`` (and the ApprovalRequest) or ``call.started``;
* ``claimed`` — ``call.started`` for an approved call;
* ``finished`` — ``call.succeeded`` (duration, digest of the result) or ``call.failed``;
* ``settled`` — ``call.denied`` or ``call.failed`` for a parked call closed without
  running, after ``approval.decided`` (cancelled) if its request was still open.

Argument values appear only redacted (as the ToolCall stores them); the model's raw
argument text appears only as the SHA-256 of the stored (redacted) text, which also ties
the ToolCall row to the chain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from approvals import audit, notifications, notify
from approvals.audit import Entry
from approvals.models import ApprovalRequest
from tools.models import ToolCall

CANCELLED_BY = "system:cancel"


def observe(stage: str, record: ToolCall, **details: Any) -> None:
    entries = _entries(stage, record)
    if stage == "opened" and record.status == ToolCall.Status.PENDING:
        request = _open_request(record)
        entries.append(Entry("approval.requested", outcome="pending", data={
            "approval_id": request.pk, "rule": request.rule, "reason": request.reason_required,
            "expires_at": request.expires_at.isoformat()}, **_base(record)))
        notify.on_commit_changed(request.pk, notify.ADDED, request.requester_id)
        notifications.announce(request.pk, notifications.REQUESTED)
    elif stage == "settled":
        entries = [*_close_request(record), *entries]
    if details:
        entries[-1].data["details"] = details
    audit.record(*entries)


def _base(record: ToolCall) -> dict[str, Any]:
    return {
        "tool_call_id": record.pk, "tool_name": record.tool_name, "user_id": record.user_id,
        "username": record.username, "conversation_id": str((record.scope or {}).get("conversation", "")),
    }


def _entries(stage: str, record: ToolCall) -> list[Entry]:
    if stage == "opened":
        return _opened(record)
    if stage == "claimed":
        return [Entry("call.started", outcome="approved", data={
            "arguments": record.arguments, "approval_id": _approval_id(record)}, **_base(record))]
    if stage == "finished":
        return [_finished(record)]
    if stage == "settled":
        return [Entry(f"call.{record.status}", outcome=record.error_type, data={
            "error": record.error, "rule": record.gate_rule, "reason": record.gate_reason,
            "duration_ms": record.duration_ms}, **_base(record))]
    raise ValueError(f"unknown journal stage {stage!r}")


def _opened(record: ToolCall) -> list[Entry]:
    entries = [Entry("call.proposed", data={
        "call_id": record.call_id, "risk": record.risk, "scope": record.scope or {},
        "raw_arguments_sha256": audit.text_digest(record.raw_arguments or ""),
        "raw_arguments_chars": len(record.raw_arguments or ""),
    }, **_base(record))]
    if record.arguments is not None:  # validated (a rate-limited call was, then rejected)
        entries.append(Entry("call.validated", data={"arguments": record.arguments}, **_base(record)))
    if record.status == ToolCall.Status.REJECTED:
        entries.append(Entry("call.rejected", outcome=record.error_type, data={"error": record.error},
                             **_base(record)))
        return entries
    entries.append(Entry("policy.decided", outcome=record.gate_action or "allow", data={
        "rule": record.gate_rule, "reason": record.gate_reason}, **_base(record)))
    if record.status == ToolCall.Status.DENIED:
        entries.append(Entry("call.denied", outcome=record.error_type, data={"error": record.error},
                             **_base(record)))
    elif record.status == ToolCall.Status.RUNNING:
        entries.append(Entry("call.started", outcome="allowed", **_base(record)))
    return entries


def _finished(record: ToolCall) -> Entry:
    data: dict[str, Any] = {"duration_ms": record.duration_ms, "attempts": record.attempts,
                            "cached": record.cached, "truncated": record.truncated}
    if record.fallback_tool:
        data["fallback_tool"] = record.fallback_tool
    if record.status == ToolCall.Status.SUCCEEDED:
        data["result_sha256"] = audit.digest(record.result)
        return Entry("call.succeeded", outcome=record.status, data=data, **_base(record))
    data["error"] = record.error
    return Entry("call.failed", outcome=record.error_type, data=data, **_base(record))


def _approval_id(record: ToolCall) -> int | None:
    return ApprovalRequest.objects.filter(tool_call_id=record.pk).values_list("pk", flat=True).first()


def _close_request(record: ToolCall) -> list[Entry]:
    """A parked call closed without a decision (its run was cancelled): nothing to decide.

    A request already decided (approved, denied, expired) is left alone: its decision was
    recorded when it was taken.
    """
    request = ApprovalRequest.objects.filter(tool_call=record, status=ApprovalRequest.Status.PENDING).first()
    if request is None or not request.claim_decision(
            ApprovalRequest.Status.CANCELLED, reason=record.gate_reason or "the run was cancelled"):
        return []
    request.tool_call = record
    notify.on_commit_changed(request.pk, notify.REMOVED, request.requester_id)
    return [audit.decision_entry(request, CANCELLED_BY)]


def _open_request(record: ToolCall) -> ApprovalRequest:
    now = timezone.now()
    scope = record.scope or {}
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=record.tool_name, arguments=record.arguments or {}, risk=record.risk,
        rule=record.gate_rule or "approval required", reason_required=record.gate_reason,
        requester_id=record.user_id, conversation_id=str(scope.get("conversation", "")),
        run_id=str(scope.get("run", "")), created_at=now,
        expires_at=now + timedelta(seconds=settings.APPROVALS_EXPIRE_AFTER),
    )
