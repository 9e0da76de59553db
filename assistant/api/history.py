"""``/api/v1/approvals/{id}`` and ``/api/v1/tool-calls``: what became of the caller's calls.

An approval request is visible to the user who asked for it and to approvers (users with
``approvals.decide``); to anyone else it does not exist (404). The tool-call history is
always the caller's own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from approvals.models import ApprovalRequest
from assistant.api.auth import caller
from assistant.api.errors import ApiError, responses
from assistant.api.schemas import ApprovalOut, ToolCallPage, ToolCallStatus
from tools.models import ToolCall
from tools.pipeline import ToolResult

router = Router(tags=["history"])

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000


class ToolCallFilters(Schema):
    tool: str | None = Field(None, max_length=64, description="Only calls of this tool.")
    status: ToolCallStatus | None = Field(None, description="Only calls with this status.")
    since: datetime | None = Field(None, description=(
        "Only calls made at or after this time: an RFC 3339 date-time with its offset, "
        "e.g. 2025-01-31T12:00:00Z."))
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    @field_validator("since", mode="before")
    @classmethod
    def rfc3339_only(cls, value: Any) -> Any:
        """What the schema promises, no more: pydantic alone would also take ``0.5`` (a Unix
        time) or a time without its offset, and guess."""
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2025-01-31T12:00:00Z")
        return value


@router.get("/approvals/{approval_id}", response={200: ApprovalOut, **responses(401, 404, 422)},
            summary="An approval request: its state and, once settled, the call's result")
async def get_approval(request: HttpRequest, approval_id: int) -> Any:
    user = caller(request)
    visible = ApprovalRequest.objects.select_related("tool_call", "decided_by")
    if not await sync_to_async(user.has_perm)("approvals.decide"):
        visible = visible.filter(requester=user)
    approval = await visible.filter(pk=approval_id).afirst() if 0 < approval_id < 2**63 else None
    if approval is None:
        raise ApiError(404, "not_found", f"There is no approval request {approval_id} visible to you.")
    return approval_out(approval)


def approval_out(approval: ApprovalRequest) -> dict[str, Any]:
    record = approval.tool_call
    return {
        "id": approval.pk, "status": approval.status, "tool": approval.tool_name,
        "arguments": approval.arguments, "edited_arguments": approval.edited_arguments,
        "risk": approval.risk, "rule": approval.rule, "created_at": approval.created_at,
        "expires_at": approval.expires_at, "decided_at": approval.decided_at,
        "decided_by": approval.decided_by.get_username() if approval.decided_by else None,
        "reason": approval.reason, "call_status": record.status,
        "result": ToolResult.from_record(record).as_dict() if record.is_terminal else None,
    }


@router.get("/tool-calls", response={200: ToolCallPage, **responses(401, 422)},
            summary="Your tool calls, newest first (chat and API)")
async def list_tool_calls(request: HttpRequest, filters: Query[ToolCallFilters]) -> Any:
    calls = ToolCall.objects.filter(user=caller(request))
    if filters.tool:
        calls = calls.filter(tool_name=filters.tool)
    if filters.status:
        calls = calls.filter(status=filters.status)
    if filters.since is not None:
        calls = calls.filter(created_at__gte=_aware(filters.since))
    total = await calls.acount()
    page = calls.select_related("approval").order_by("-created_at", "-id")
    items = [tool_call_out(c) async for c in page[filters.offset:filters.offset + filters.limit]]
    return {"items": items, "total": total, "limit": filters.limit, "offset": filters.offset}


def _aware(moment: datetime) -> datetime:
    """The time in UTC, for the database; an offset that pushes it past year 1 or 9999 is a 422."""
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        detail = {"loc": ["query", "since"], "message": "out of range", "type": "value_error"}
        raise ApiError(422, "validation_error", "since is out of range.", [detail]) from None


def tool_call_out(call: ToolCall) -> dict[str, Any]:
    scope = call.scope or {}
    source = scope.get("source") or ("chat" if scope.get("run") else "other")
    try:
        approval_id = call.approval.pk
    except ApprovalRequest.DoesNotExist:
        approval_id = None
    conversation = scope.get("conversation")
    return {
        "id": call.pk, "call_id": call.call_id, "tool": call.tool_name, "status": call.status,
        "risk": call.risk, "arguments": call.arguments, "result": call.result, "error": call.error,
        "source": str(source), "conversation_id": str(conversation) if conversation else None,
        "approval_id": approval_id, "created_at": call.created_at, "finished_at": call.finished_at,
        "duration_ms": call.duration_ms,
    }

