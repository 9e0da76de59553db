"""A conversation as the page shows it: messages, tool-call cards and how each run ended.

The stored rows are shaped for the model (an assistant turn's calls, a separate tool turn
with the results, ToolCall records for the audit trail). A person wants one card per call
with its arguments, status and result next to the turn that made it, so this module joins
them once, server-side, in the same shape the page's script builds from live events
(static/js/toolcard.js). Everything here is plain text except ``Entry.html``, which is the
sanitised Markdown of an assistant message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from django.utils.translation import gettext, gettext_lazy

from assistant.models import Conversation, Message, Run, RunToolCall
from assistant.transcript.edits import edit_payload
from assistant.transcript.rendering import render_markdown
from tools.models import ToolCall
from tools.pipeline import ToolResult

# Translated when shown (a card's label is read while its page renders, in its language).
STATUS_LABELS = {"running": gettext_lazy("Running…"), "ok": gettext_lazy("Done"),
                 "error": gettext_lazy("Failed"), "pending": gettext_lazy("Waiting for approval")}
DECISION_LABELS = {"approved": gettext_lazy("Approved"), "denied": gettext_lazy("Denied"),
                   "expired": gettext_lazy("Expired")}


def pretty(value: Any) -> str:
    """JSON as indented text; a string result is shown as itself, not as a JSON literal."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def pretty_arguments(text: str) -> str:
    """The model's argument text, indented when it is JSON and verbatim when it is not."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


@dataclass
class ToolCard:
    id: str
    name: str
    arguments: str
    status: str  # running | ok | error | pending (docs/protocol.md)
    result: str | None = None
    error_type: str = ""
    error_message: str = ""
    duration_ms: float | None = None
    # Set when an approver changed the arguments before approving (assistant/transcript/edits.py).
    edited_by: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def edited(self) -> bool:
        return bool(self.changes)

    @property
    def label(self) -> str:
        if self.status == "error" and self.error_type in DECISION_LABELS:
            return str(DECISION_LABELS[self.error_type])
        return str(STATUS_LABELS.get(self.status, self.status))


@dataclass
class Entry:
    kind: Literal["user", "assistant", "notice"]
    message: Message | None = None
    html: str = ""
    cards: list[ToolCard] = field(default_factory=list)
    notice: str = ""
    level: Literal["info", "error"] = "info"
    run_id: str = ""

    @property
    def offered(self) -> dict[str, Any] | None:
        """The tools this assistant turn was offered, when tool selection chose a subset."""
        record = getattr(self.message, "offered_tools", None)
        if not isinstance(record, dict) or not record.get("selected"):
            return None
        return {"count": len(record.get("names") or []), "available": record.get("available"),
                "names": ", ".join(str(n) for n in record.get("names") or [])}
    @property
    def answered_by(self) -> dict[str, Any] | None:
        """Which profile wrote this answer (issue 14): a fallback (``message.profile``), else
        the run's own; shown under final answers, and under every turn a fallback wrote."""
        from assistant.providers.profiles import get_profiles

        message = self.message
        if self.kind != "assistant" or message is None:
            return None
        if message.tool_calls and not message.profile:
            return None
        name = message.profile or (message.run.profile if message.run is not None else "")
        if not name:
            return None
        profile = get_profiles().get(name)
        return {"name": name, "label": (profile.label or name) if profile is not None else name,
                "fallback": bool(message.profile)}


def _from_record(call: dict[str, Any], record: ToolCall) -> ToolCard:
    result = ToolResult.from_record(record)
    card = ToolCard(call["id"], call["name"], pretty_arguments(call.get("arguments", "")), result.status,
                    duration_ms=round(result.duration_ms, 2) if record.duration_ms is not None else None)
    if result.status == "ok":
        card.result = pretty(result.output)
    # A call waiting for approval is not an error: its "approval_required" is the reason to wait.
    if result.error is not None and result.status != "pending":
        card.error_type, card.error_message = str(result.error.type), result.error.message
    edited = edit_payload(getattr(record, "approval", None), record)
    if edited is not None:
        card.arguments = pretty_arguments(edited["arguments"])
        card.edited_by, card.changes = edited["by"], edited["changes"]
    return card


def _from_part(call: dict[str, Any], part: dict[str, Any]) -> ToolCard:
    """A result known only from the tool turn (e.g. a call closed when its run was cancelled)."""
    card = ToolCard(call["id"], call["name"], pretty_arguments(call.get("arguments", "")), "ok")
    try:
        body: Any = json.loads(part.get("content") or "null")
    except ValueError:
        body = part.get("content")
    error = body.get("error") if isinstance(body, dict) else None
    if part.get("is_error") or isinstance(error, dict):
        card.status = "error"
        details = error if isinstance(error, dict) else {"message": str(body)}
        card.error_type, card.error_message = str(details.get("type", "")), str(details.get("message", ""))
    else:
        card.result = pretty(body)
    return card


def _card(call: dict[str, Any], record: ToolCall | None, part: dict[str, Any] | None,
          run: Run | None) -> ToolCard:
    if record is not None:
        return _from_record(call, record)
    if part is not None:
        return _from_part(call, part)
    active = run is not None and not run.is_finished
    card = ToolCard(call["id"], call["name"], pretty_arguments(call.get("arguments", "")),
                    "running" if active else "error")
    if not active:
        card.error_message = gettext("No result was recorded for this call.")
    return card


def _ending(run: Run) -> Entry | None:
    if run.status == Run.Status.FAILED:
        return Entry("notice", notice=run.error or gettext("The reply failed."), level="error",
                     run_id=str(run.pk))
    if run.status == Run.Status.CANCELLED:
        return Entry("notice", notice=gettext("Stopped."), run_id=str(run.pk))
    return None


def build_timeline(conversation: Conversation) -> list[Entry]:
    """The conversation's entries in order; tool turns are folded into the cards."""
    messages = list(conversation.messages.select_related("run").order_by("position"))
    links = RunToolCall.objects.filter(run__conversation=conversation).select_related(
        "tool_call", "tool_call__approval__decided_by")
    records = {(link.message_id, link.call_id): link.tool_call for link in links}
    parts: dict[tuple[Any, str], dict[str, Any]] = {}
    for message in messages:
        if message.role == Message.Role.TOOL:
            for part in message.tool_results:
                parts[(message.run_id, part.get("call_id"))] = part
    entries: list[Entry] = []
    for index, message in enumerate(messages):
        if message.role == Message.Role.USER:
            entries.append(Entry("user", message))
        elif message.role == Message.Role.ASSISTANT:
            cards = [_card(call, records.get((message.pk, call["id"])),
                           parts.get((message.run_id, call["id"])), message.run)
                     for call in message.tool_calls]
            entries.append(Entry("assistant", message, render_markdown(message.content), cards))
        following = messages[index + 1] if index + 1 < len(messages) else None
        if message.run is not None and (following is None or following.run_id != message.run_id):
            ending = _ending(message.run)
            if ending is not None:
                entries.append(ending)
    return entries


def active_run(conversation: Conversation) -> Run | None:
    return conversation.runs.filter(status__in=[Run.Status.RUNNING, Run.Status.WAITING]).first()
