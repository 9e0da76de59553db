"""Rebuild the neutral chat history from the database.

What the model is shown on every turn is derived from the stored messages alone, which is
what lets a run resume after a restart, and what the round-trip tests compare against the
requests the providers actually received.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.attachments.service import note as attachment_note
from assistant.models import Message
from assistant.providers.base import ChatMessage, ToolCallPart, ToolResultPart
from tools import rows


def to_chat_message(message: Message) -> ChatMessage:
    if message.role == Message.Role.TOOL:
        return ChatMessage(role="tool", tool_results=tuple(
            ToolResultPart(r["call_id"], r["name"], r["content"], bool(r.get("is_error")))
            for r in message.tool_results
        ))
    if message.role == Message.Role.ASSISTANT:
        return ChatMessage(role="assistant", content=message.content, tool_calls=tuple(
            ToolCallPart(c["id"], c["name"], c["arguments"]) for c in message.tool_calls
        ), provider_state=message.provider_state or None)
    note = attachment_note(message.attachments) if message.attachments else ""
    if note:  # issue 14: the model is told which files came with it
        return ChatMessage(role="user", content=f"{message.content}\n\n{note}")
    return ChatMessage(role="user", content=message.content)


def build_history(messages: Iterable[Message]) -> list[ChatMessage]:
    """The conversation as the model should see it.

    An interrupted assistant turn (the provider failed or the run was cancelled mid-way)
    is kept only for its text and never for half-received tool calls, which have no
    results and would make the next request invalid.
    """
    history: list[ChatMessage] = []
    for message in messages:
        if message.status == Message.Status.INTERRUPTED:
            if message.role == Message.Role.ASSISTANT and message.content:
                history.append(ChatMessage(role="assistant", content=message.content))
            continue
        history.append(to_chat_message(message))
    return history


def conversation_history(conversation_id: object) -> list[ChatMessage]:
    return build_history(Message.objects.filter(conversation_id=conversation_id).order_by("position"))


def history_and_next_position(conversation_id: object) -> tuple[list[ChatMessage], int]:
    """The history, and the position the next stored message takes (one query for both).

    Read on every run's start, so through a precompiled SELECT (``tools.rows``).
    """
    stored = rows.fetch(Message, conversation_id=conversation_id, order_by="position")
    return build_history(stored), (stored[-1].position + 1 if stored else 0)
