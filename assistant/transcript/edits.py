"""An approver's edit of a parked call, as the chat shows it (issue 14, bug 1).

When an approver approves a call with edited arguments, what ran is not what the model
asked for. The user's tool card must show the arguments that ran, say that an approver
changed them, and show the difference, live (``approval.decided``) and after a reload
(assistant/transcript/timeline.py). Both read it from here, from the records alone: the approval
request keeps what the model asked (redacted) and the call record what ran (redacted).
"""

from __future__ import annotations

import json
from typing import Any

from approvals.models import ApprovalRequest
from tools.models import ToolCall

_ABSENT = object()


def _text(value: Any) -> str | None:
    return None if value is _ABSENT else json.dumps(value, ensure_ascii=False, default=str)


def changes(asked: Any, ran: Any) -> list[dict[str, str | None]]:
    """Field by field (top-level keys), what the approver changed; ``None`` = absent."""
    if not isinstance(asked, dict) or not isinstance(ran, dict):
        return [] if asked == ran else [{"field": "", "before": _text(asked), "after": _text(ran)}]
    fields = list(asked) + [key for key in ran if key not in asked]
    return [{"field": key, "before": _text(asked.get(key, _ABSENT)), "after": _text(ran.get(key, _ABSENT))}
            for key in fields if asked.get(key, _ABSENT) != ran.get(key, _ABSENT)]


def edit_payload(approval: ApprovalRequest | None, record: ToolCall) -> dict[str, Any] | None:
    """``{"by", "arguments", "changes"}`` if an approver changed what ran, else ``None``.

    ``arguments`` is the JSON text of what ran, or of the edit while the call has not run
    yet (both redacted); ``by`` the approver's username.
    """
    if approval is None or approval.edited_arguments is None:
        return None
    ran = record.arguments if record.arguments is not None and record.status != ToolCall.Status.PENDING \
        else approval.edited_arguments
    found = changes(approval.arguments, ran)
    if not found:
        return None
    return {
        "by": approval.decided_by.get_username() if approval.decided_by_id and approval.decided_by else "",
        "arguments": json.dumps(ran, ensure_ascii=False),
        "changes": found,
    }


async def aedit_for(record: ToolCall) -> dict[str, Any] | None:
    approval = await ApprovalRequest.objects.select_related("decided_by").filter(tool_call=record).afirst()
    return edit_payload(approval, record)
