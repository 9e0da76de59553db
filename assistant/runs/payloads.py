"""The shapes a run's events carry: messages, runs and tool results as the protocol sends
them (docs/protocol.md), and a tool result as the model's history stores it.

Kept apart from the engine, which emits them, because the REST API, recovery and the
approval signal's handler send the same shapes without driving a run.
"""

from __future__ import annotations

from typing import Any

from assistant.models import Message, Run
from tools.pipeline import ToolResult


def message_payload(message: Message) -> dict[str, Any]:
    body = {"id": str(message.pk), "role": message.role, "content": message.content,
            "status": message.status, "created_at": message.created_at.isoformat()}
    if message.profile:  # a fallback profile answered: the user is shown which
        body["profile"] = {"name": message.profile,
                           "label": getattr(message, "profile_label", "") or message.profile}
    if message.attachments:  # issue 14: a user message's files, shown as chips
        body["attachments"] = message.attachments
    answered_by = getattr(message, "answered_by", None)
    if answered_by:  # the profile that wrote this answer, fallback or not
        body["answered_by"] = {**answered_by, "fallback": bool(message.profile)}
    return body


def run_payload(run: Run) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(run.pk), "status": run.status, "steps": run.steps,
        "usage": {"input_tokens": run.input_tokens, "output_tokens": run.output_tokens},
    }
    if run.error:
        body["error"] = {"code": run.error_code, "message": run.error}
    return body


def result_payload(result: ToolResult) -> dict[str, Any]:
    """:meth:`ToolResult.as_dict` as the protocol names it: ``id`` for the call's id, and the
    duration to 0.01 ms."""
    body = result.as_dict()
    return {"id": body.pop("call_id"), **body, "duration_ms": round(result.duration_ms, 2)}


def tool_result_part(result: ToolResult) -> dict[str, Any]:
    return {"call_id": result.call_id, "name": result.name, "content": result.content(),
            "is_error": not result.ok}
