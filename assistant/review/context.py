"""The conversation before a parked call, rendered with the chat's own templates
(``assistant/_entry.html``, the same tool cards), for the approver's decision page."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from assistant.models import Conversation
from assistant.transcript.timeline import Entry, build_timeline


def entries_until(timeline: list[Entry], moment: Any) -> list[Entry]:
    """The entries up to ``moment``: a message written later, and anything after it, is cut."""
    shown: list[Entry] = []
    for entry in timeline:
        if entry.message is not None and entry.message.created_at > moment:
            break
        shown.append(entry)
    return shown


def render_for_approval(request: Any) -> SafeString | str:
    try:
        conversation = Conversation.objects.filter(pk=request.conversation_id).first()
    except (ValidationError, ValueError):
        conversation = None
    if conversation is None:
        return ""
    entries = entries_until(build_timeline(conversation), request.created_at)
    if request.is_pending:  # the call being decided waits, whatever else its card could tell
        for card in (c for e in entries for c in e.cards if c.id == request.tool_call.call_id):
            card.status, card.error_type, card.error_message = "pending", "", ""
    # read_only: the approver sees the conversation, without the chat's edit-and-resend forms.
    html = render_to_string("assistant/_approval_context.html", {
        "timeline": entries, "call_id": request.tool_call.call_id, "read_only": True})
    return SafeString(html)
