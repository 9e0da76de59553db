"""The API's request and response bodies: what /api/openapi.json documents.

Tool results keep the pipeline's own shape (:meth:`tools.pipeline.ToolResult.as_dict`) and
chat events keep the WebSocket protocol's (docs/protocol.md), so a client that knows one
knows the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

ToolCallStatus = Literal["rejected", "pending", "denied", "running", "succeeded", "failed"]
ApprovalStatus = Literal["pending", "approved", "denied", "expired", "cancelled"]
RunStatus = Literal["running", "waiting", "completed", "failed", "cancelled"]


class Page(Schema):
    total: int = Field(description="How many items match, over all pages.")
    limit: int
    offset: int


# -- tools ----------------------------------------------------------------------------------

class ToolOut(Schema):
    name: str
    description: str
    risk: Literal["low", "medium", "high"]
    read_only: bool
    parameters: dict[str, Any] = Field(description="The JSON Schema of the tool's arguments.")


class ToolList(Schema):
    items: list[ToolOut]


class ToolErrorOut(BaseModel):
    """A structured tool error (``tools.errors.ToolError``); extra keys such as
    ``retry_after``, ``reason`` or ``rule`` depend on the type.

    A plain pydantic model: a ninja ``Schema`` reads fields by name and would drop them.
    """

    model_config = ConfigDict(extra="allow")

    type: str
    message: str
    details: list[dict[str, Any]] | None = None
    hint: str | None = None


class ToolResultOut(Schema):
    call_id: str
    name: str
    status: Literal["ok", "error", "pending", "running"]
    duration_ms: float
    result: Any = Field(None, description="The tool's output, when status is ok.")
    error: ToolErrorOut | None = None
    record_id: int | None = Field(None, description="The id of the stored tool call (see /tool-calls).")


class PendingOut(Schema):
    status: Literal["pending"]
    approval_id: int
    approval_url: str
    call: ToolResultOut


# -- approvals and history --------------------------------------------------------------------

class ApprovalOut(Schema):
    id: int
    status: ApprovalStatus
    tool: str
    arguments: Any = Field(description="The arguments asked for (sensitive values redacted).")
    edited_arguments: Any = Field(None, description="What an approver changed them to, if anything.")
    risk: str
    rule: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str
    call_status: ToolCallStatus
    result: ToolResultOut | None = Field(description="The call's result, once it is settled.")


class ToolCallOut(Schema):
    id: int
    call_id: str
    tool: str
    status: ToolCallStatus
    risk: str
    arguments: Any
    result: Any
    error: dict[str, Any] | None
    source: str = Field(description="api, chat, mcp (docs/mcp.md) or other.")
    conversation_id: str | None
    approval_id: int | None
    created_at: datetime
    finished_at: datetime | None
    duration_ms: float | None


class ToolCallPage(Page):
    items: list[ToolCallOut]


# -- conversations ----------------------------------------------------------------------------

class RunError(Schema):
    code: str
    message: str


class Usage(Schema):
    input_tokens: int
    output_tokens: int


class RunOut(Schema):
    id: UUID
    status: RunStatus
    steps: int
    usage: Usage
    error: RunError | None = None


class ConversationOut(Schema):
    id: UUID
    title: str
    profile: str
    created_at: datetime
    updated_at: datetime
    active_run: RunOut | None


class ConversationPage(Page):
    items: list[ConversationOut]


class MessageOut(Schema):
    id: UUID
    role: Literal["user", "assistant", "tool"]
    content: str
    status: Literal["complete", "interrupted"]
    created_at: datetime
    tool_calls: list[dict[str, Any]] = Field(description="An assistant turn's calls: id, name, arguments.")
    tool_results: list[dict[str, Any]] = Field(description="A tool turn's results: call_id, name, content.")
    profile: str | None = Field(None, description="An assistant turn: the model profile that wrote it.")


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationIn(BaseModel):
    """Request bodies are plain pydantic models: a ninja ``Schema`` reads any object by
    attribute, so it would take ``[null]`` for a body whose fields are all optional."""

    profile: str | None = Field(None, max_length=64, description="A model profile; the default if omitted.")


class MessageIn(BaseModel):
    content: str = Field(
        min_length=1, pattern=r"\S",
        description="The user's message: not blank, and without NUL (U+0000), which cannot be stored "
                    "(refused with 422 `unstorable_character`).",
        # The published pattern says both rules; the runtime keeps ``\S`` here and checks NUL
        # itself, so that NUL gets its own error code rather than a generic pattern mismatch.
        # (Not ``\S`` between the NUL-free runs: ``\S`` matches NUL itself.)
        json_schema_extra={"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"})
    client_id: UUID | None = Field(
        None, description="Chosen by the client per message: a repeated id is never processed twice.")


class AnsweredByOut(Schema):
    name: str
    label: str
    fallback: bool = Field(description="True when a fallback answered because this profile was unavailable.")


class AssistantMessageOut(Schema):
    id: UUID
    role: Literal["assistant"]
    content: str
    html: str = Field(description="The content rendered from Markdown and sanitised.")
    status: Literal["complete", "interrupted"]
    created_at: datetime
    answered_by: AnsweredByOut | None = Field(None, description="The model profile that wrote this answer.")


class CallOut(Schema):
    """A ``tool.result`` event's ``tool_call``, plus the approval to watch if it is pending."""

    id: str
    name: str
    status: Literal["ok", "error", "pending", "running"]
    duration_ms: float
    result: Any = None
    error: ToolErrorOut | None = None
    record_id: int | None = None
    approval_id: int | None = None


class ReplyOut(Schema):
    run: RunOut
    message: AssistantMessageOut | None = Field(
        description="The final answer (none if the run did not finish).")
    tool_calls: list[CallOut]
