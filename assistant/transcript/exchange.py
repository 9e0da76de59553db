"""Export a conversation as Markdown or JSON, and import the JSON (issue 14).

The JSON holds everything needed to read the conversation again and to continue it: the
messages as stored (the model's turns with their tool calls, the tool turns with their
results) and, for reading, each call's audit record as the user may see it (status,
redacted arguments, result or error, and its approval: who decided, how, why, and what
an approver changed). Importing creates a *new* conversation of the importing user with
those messages; the tool-call records and approvals are not imported (the audit trail
belongs to the installation that ran the calls), so the import shows the results from the
tool turns. The messages are checked first: every call of an assistant turn must be
answered by the tool turn that follows, or the conversation could not be continued.

Attachments: each user message's files are exported by name, workspace path, size and
SHA-256 (the files themselves stay in the workspace). An import names them again only in the
*importer's* workspace (assistant/attachments/carry.py): a path that points outside it is
refused, and a file is linked only if the importer has it there with the same SHA-256;
otherwise it is shown as missing and the model is not told to read it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.attachments import carry
from assistant.models import Conversation, Message, RunToolCall
from assistant.providers.profiles import default_profile, get_profiles

FORMAT = "toolgate.conversation"
VERSION = 1
MAX_MESSAGES = 5000
MAX_ATTACHMENTS = 1000


class ExportFileError(ValueError):
    """An import that is refused; the message says exactly what is wrong."""


class CallIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=1_000_000)


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    call_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    content: str = Field(max_length=1_000_000)
    is_error: bool = False


class AttachmentIn(BaseModel):
    """A file a user message carried: named by its path in the *importer's* workspace."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field("", max_length=255)
    path: str = Field(min_length=1, max_length=1024)
    size: int = Field(0, ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    removed: bool = False


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant", "tool"]
    content: str = Field("", max_length=1_000_000)
    status: Literal["complete", "interrupted"] = "complete"
    created_at: datetime | None = None
    tool_calls: list[CallIn] = Field(default_factory=list, max_length=128)
    tool_results: list[ResultIn] = Field(default_factory=list, max_length=128)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = Field("", max_length=200)
    profile: str = Field("", max_length=64)


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: Literal["toolgate.conversation"]
    version: Literal[1]
    conversation: ConversationIn
    messages: list[MessageIn] = Field(max_length=MAX_MESSAGES)


# -- export --------------------------------------------------------------------------------


def _record(link: RunToolCall) -> dict[str, Any]:
    record = link.tool_call
    body: dict[str, Any] = {
        "call_id": link.call_id, "tool": record.tool_name, "status": record.status,
        "arguments": record.arguments, "result": record.result, "error": record.error,
        "created_at": record.created_at.isoformat(), "duration_ms": record.duration_ms, "approval": None,
    }
    approval = getattr(record, "approval", None)
    if approval is not None:
        body["approval"] = {
            "status": approval.status, "rule": approval.rule, "reason": approval.reason,
            "decided_by": approval.decided_by.get_username() if approval.decided_by else None,
            "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
            "asked_arguments": approval.arguments, "edited_arguments": approval.edited_arguments,
        }
    return body


def export_json(conversation: Conversation) -> dict[str, Any]:
    messages = list(conversation.messages.order_by("position"))
    files = carry.rows_of(messages, conversation.owner)
    links = (RunToolCall.objects.filter(run__conversation=conversation)
             .select_related("tool_call", "tool_call__approval__decided_by")
             .order_by("message__position", "index"))
    return {
        "format": FORMAT, "version": VERSION, "exported_at": timezone.now().isoformat(),
        "conversation": {"id": str(conversation.pk), "title": conversation.title,
                         "profile": conversation.profile, "created_at": conversation.created_at.isoformat()},
        "messages": [{
            "id": str(m.pk), "role": m.role, "content": m.content, "status": m.status,
            "created_at": m.created_at.isoformat(), "tool_calls": m.tool_calls,
            "tool_results": m.tool_results, "attachments": carry.exported(m, files),
        } for m in messages],
        "tool_calls": [_record(link) for link in links],
    }


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def export_markdown(conversation: Conversation) -> str:
    data = export_json(conversation)
    records = {r["call_id"]: r for r in data["tool_calls"]}
    lines = [f"# {conversation.title or 'Conversation'}", "",
             f"Model profile: `{conversation.profile}` · exported {data['exported_at']}", ""]
    results: dict[str, dict[str, Any]] = {}
    for message in data["messages"]:
        for part in message["tool_results"]:
            results[part["call_id"]] = part
    for message in data["messages"]:
        if message["role"] == "tool":
            continue
        who = "You" if message["role"] == "user" else "Assistant"
        suffix = " (interrupted)" if message["status"] == "interrupted" else ""
        lines += [f"## {who}{suffix}", "", f"*{message['created_at']}*", ""]
        if message["content"]:
            lines += [message["content"], ""]
        if message["attachments"]:
            lines += ["Attached files (in the workspace):", ""] + [
                f"- `{a['name']}` — `{a['path']}`, {a['size']:,} bytes"
                + (" (removed)" if a["removed"] else " (missing)" if a["missing"] else "")
                for a in message["attachments"]] + [""]
        for call in message["tool_calls"]:
            record = records.get(call["id"], {})
            lines += [f"**Tool call `{call['name']}`** ({record.get('status', 'no record')})", "",
                      "Arguments:", "", _fence(_pretty(call["arguments"]), "json"), ""]
            approval = record.get("approval")
            if approval:
                by = f" by {approval['decided_by']}" if approval["decided_by"] else ""
                lines += [f"Approval: {approval['status']}{by}"
                          + (f" — {approval['reason']}" if approval["reason"] else ""), ""]
                if approval["edited_arguments"] is not None:
                    lines += ["Arguments edited by the approver to:", "",
                              _fence(json.dumps(approval["edited_arguments"], indent=2, ensure_ascii=False),
                                     "json"), ""]
            part = results.get(call["id"])
            if part is not None:
                label = "Error" if part.get("is_error") else "Result"
                lines += [f"{label}:", "", _fence(_pretty(part["content"]), "json"), ""]
    return "\n".join(lines).rstrip() + "\n"


# -- import --------------------------------------------------------------------------------


def parse(raw: bytes | str | dict[str, Any]) -> ExportIn:
    try:
        data = raw if isinstance(raw, dict) else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportFileError(f"The file is not JSON: {exc}.") from None
    try:
        return ExportIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ExportFileError(f"Not a Toolgate conversation export: {where}: {first['msg']}{more}.") from None


def check_turns(messages: list[MessageIn]) -> None:
    """Every call of an assistant turn is answered by the tool turn right after it."""
    for index, message in enumerate(messages):
        if message.role == "tool" and (index == 0 or messages[index - 1].role != "assistant"
                                       or not messages[index - 1].tool_calls):
            raise ExportFileError(
                f"messages.{index}: a tool turn must follow an assistant turn with tool calls.")
        if message.role == "assistant" and message.tool_calls and message.status == "complete":
            following = messages[index + 1] if index + 1 < len(messages) else None
            asked = {c.id for c in message.tool_calls}
            answered = ({r.call_id for r in following.tool_results}
                        if following is not None and following.role == "tool" else set())
            if asked != answered:
                missing = sorted(asked - answered) or sorted(answered - asked)
                raise ExportFileError(f"messages.{index}: the tool calls {', '.join(missing)} are not "
                                      "answered by the tool turn that follows.")


def import_conversation(user: Any, raw: bytes | str | dict[str, Any]) -> Conversation:
    parsed = parse(raw)
    check_turns(parsed.messages)
    profile = parsed.conversation.profile
    if profile not in get_profiles():
        profile = default_profile().name
    too_long = [i for i, m in enumerate(parsed.messages)
                if m.role == "user" and len(m.content) > settings.ASSISTANT_MAX_MESSAGE_CHARS]
    if too_long:
        raise ExportFileError(f"messages.{too_long[0]}: longer than {settings.ASSISTANT_MAX_MESSAGE_CHARS:,} "
                           "characters, the limit for a message.")
    wrong = next((f"messages.{i}.attachments" for i, m in enumerate(parsed.messages)
                  if m.attachments and m.role != "user"), None)
    if wrong:
        raise ExportFileError(f"{wrong}: only a user message can carry attachments.")
    references = [(f"messages.{i}.attachments.{j}", a) for i, m in enumerate(parsed.messages)
                  for j, a in enumerate(m.attachments)]
    if len(references) > MAX_ATTACHMENTS:
        raise ExportFileError(f"The file names {len(references):,} attachments; an import may name at most "
                              f"{MAX_ATTACHMENTS:,}.")
    try:
        targets = carry.check_paths(user, references)
    except carry.ImportRefused as exc:
        raise ExportFileError(str(exc)) from None
    with transaction.atomic():
        conversation = Conversation.objects.create(owner=user, profile=profile,
                                                   title=parsed.conversation.title or "Imported conversation")
        stored = Message.objects.bulk_create([Message(
            conversation=conversation, position=index, role=m.role, content=m.content, status=m.status,
            tool_calls=[c.model_dump() for c in m.tool_calls],
            tool_results=[r.model_dump() for r in m.tool_results],
            created_at=m.created_at or timezone.now(),
        ) for index, m in enumerate(parsed.messages)])
        for index, (message, m) in enumerate(zip(stored, parsed.messages, strict=True)):
            if m.attachments:
                message.attachments = carry.imported(
                    user, conversation, message, m.attachments,
                    [targets[f"messages.{index}.attachments.{j}"] for j in range(len(m.attachments))])
                message.save(update_fields=["attachments"])
    return conversation
