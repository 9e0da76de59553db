"""What approvals does when the tool pipeline writes a ToolCall (``TOOLS_JOURNAL``).

Called inside the pipeline's own transaction, so the audit events, the approval request
and the ToolCall row are committed together or not at all. Approvers are told of a new
request only after that commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals import audit, notify
from approvals.audit import Entry
from approvals.models import ApprovalRequest
from tools.models import ToolCall


def _base(record: ToolCall, **extra: Any) -> dict[str, Any]:
    return {
        "tool_call_id": record.pk, "tool_name": record.tool_name, "user_id": record.user_id,
        "username": record.username, "conversation_id": str((record.scope or {}).get("conversation", "")),
        **extra,
    }


def _policy_entry(record: ToolCall) -> Entry:
    return Entry("policy.decided", outcome=record.gate_action or "allow",
                 data={"rule": record.gate_rule, "reason": record.gate_reason}, **_base(record))


def observe(stage: str, record: ToolCall, **details: Any) -> None:
    entries = [*_entries(stage, record)]
    if stage == "opened" and record.status == ToolCall.Status.PENDING:
        request = _open_request(record)
        entries.append(Entry("approval.requested", outcome="pending",
                             data={"approval_id": request.pk, "rule": request.rule,
                                   "expires_at": request.expires_at.isoformat()}, **_base(record)))
        transaction.on_commit(notify.pending_changed)
    audit.record(*entries)


def _entries(stage: str, record: ToolCall) -> list[Entry]:
    if stage == "opened":
        proposed = Entry("call.proposed", data={
            "call_id": record.call_id, "risk": record.risk, "arguments": record.arguments,
            "raw_arguments_sha256": audit.digest(record.raw_arguments),
        }, **_base(record))
        if record.status == ToolCall.Status.REJECTED:
            return [proposed, Entry("call.rejected", outcome=record.error_type,
                                    data={"error": record.error}, **_base(record))]
        validated = Entry("call.validated", **_base(record))
        if record.status == ToolCall.Status.DENIED:
            return [proposed, validated, _policy_entry(record),
                    Entry("call.denied", outcome="denied", data={"error": record.error}, **_base(record))]
        if record.status == ToolCall.Status.PENDING:
            return [proposed, validated, _policy_entry(record)]
        return [proposed, validated, _policy_entry(record), Entry("call.started", **_base(record))]
    if stage == "claimed":
        return [Entry("call.started", data={"arguments": record.arguments}, **_base(record))]
    if stage == "finished":
        ok = record.status == ToolCall.Status.SUCCEEDED
        data: dict[str, Any] = {"duration_ms": record.duration_ms, "attempts": record.attempts,
                                "cached": record.cached}
        if ok:
            data["result_sha256"] = audit.digest(record.result)
        else:
            data["error"] = record.error
        kind, outcome = ("call.succeeded", record.status) if ok else ("call.failed", record.error_type)
        return [Entry(kind, outcome=outcome, data=data, **_base(record))]
    if stage == "settled":
        return [Entry(f"call.{record.status}", outcome=record.error_type,
                      data={"error": record.error, "reason": record.gate_reason}, **_base(record))]
    raise ValueError(f"unknown journal stage {stage!r}")


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
