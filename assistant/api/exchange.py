"""Export and import conversations over the API (docs/api.md; assistant/transcript/exchange.py).

``GET /conversations/{id}/export?format=json|markdown`` and ``POST /conversations/import``
with the exported JSON as the body: a new conversation of the caller's.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status

from assistant.api.auth import caller
from assistant.api.conversations import conversation_out, owned
from assistant.api.errors import ApiError, responses
from assistant.api.schemas import ConversationOut
from assistant.transcript import exchange
from assistant.transcript.exchange import ExportFileError, ExportIn

router = Router(tags=["conversations"])

MARKDOWN_DOC = {"description": "With `format=markdown`: the conversation as a Markdown transcript.",
                "content": {"text/markdown": {"schema": {"type": "string"}}}}


class ExportParams(Schema):
    format: Literal["json", "markdown"] = "json"


@router.get("/conversations/{conversation_id}/export",
            response={200: dict[str, Any], **responses(401, 404, 422)},
            summary="Export a conversation: messages, tool calls, results and approvals",
            openapi_extra={"responses": {200: MARKDOWN_DOC}})
async def export_conversation(request: HttpRequest, conversation_id: UUID,
                              params: Query[ExportParams]) -> Any:
    conversation = await owned(request, conversation_id)
    if params.format == "markdown":
        text = await sync_to_async(exchange.export_markdown)(conversation)
        return HttpResponse(text, content_type="text/markdown; charset=utf-8")
    return await sync_to_async(exchange.export_json)(conversation)


@router.post("/conversations/import", response={201: ConversationOut, **responses(400, 401, 403, 422)},
             summary="Import an exported conversation (JSON) as a new conversation of yours")
async def import_exported(request: HttpRequest, data: ExportIn) -> Any:
    try:
        conversation = await sync_to_async(exchange.import_conversation)(
            caller(request), data.model_dump(mode="json"))
    except ExportFileError as exc:
        raise ApiError(422, "bad_export", str(exc)) from None
    return Status(201, await conversation_out(conversation))
