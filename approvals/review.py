"""What the decision page needs beyond the request row: the conversation as the chat shows
it, and where the approver goes after deciding.

approvals must not import the chat app (import floors), so the chat registers a renderer at
start-up (:func:`set_conversation_renderer`, called from ``assistant.apps``); without one the
page falls back to plain message text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString

from approvals.models import ApprovalRequest

ConversationRenderer = Callable[[ApprovalRequest], SafeString | str]
_renderer: ConversationRenderer | None = None


def set_conversation_renderer(renderer: ConversationRenderer | None) -> None:
    """``renderer(request)`` returns the conversation up to the request's call as safe HTML."""
    global _renderer
    _renderer = renderer


def render_conversation(request: ApprovalRequest) -> SafeString | str:
    if _renderer is None or not request.conversation_id:
        return ""
    return _renderer(request)


def decidable(user: Any) -> Any:
    """Pending requests ``user`` may decide now: not expired, not their own (unless
    self-approval is allowed). The live queue's title badge counts these."""
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING,
                                             expires_at__gt=timezone.now())
    if not settings.APPROVALS_ALLOW_SELF_APPROVAL:
        pending = pending.exclude(requester_id=user.pk)
    return pending


def next_pending(user: Any, after: ApprovalRequest | None = None) -> ApprovalRequest | None:
    """The pending request this approver should look at next: soonest to expire, not their
    own (unless self-approval is allowed), not the one just decided."""
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
    pending = pending.order_by("expires_at", "pk")
    if not settings.APPROVALS_ALLOW_SELF_APPROVAL:
        pending = pending.exclude(requester_id=user.pk)
    if after is not None:
        pending = pending.exclude(pk=after.pk)
    return pending.first()
