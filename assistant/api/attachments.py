"""Attachments over the REST API (issue 14): upload into a conversation, list, remove.

``POST /conversations/{id}/attachments`` takes ``multipart/form-data`` with one ``file``;
the file lands in the caller's workspace (see assistant/attachments/) and is carried by
the next message sent to the conversation, which names it to the model. ``DELETE
/attachments/{id}`` deletes the file from the workspace (audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import File, Router, Status
from ninja.files import UploadedFile
from pydantic import BaseModel, Field

from assistant.api.auth import caller
from assistant.api.conversations import owned
from assistant.api.errors import ApiError, responses
from assistant.attachments import service
from assistant.attachments.models import Attachment
from assistant.attachments.names import Refused

router = Router(tags=["attachments"])


class AttachmentOut(BaseModel):
    id: UUID
    name: str = Field(description="The file's name as stored (made safe).")
    path: str = Field(description="Where it is in your workspace; what read_file is given.")
    size: int
    sha256: str
    created_at: datetime
    message_id: UUID | None = Field(description="The message that carried it; null while it waits for one.")
    removed: bool


def attachment_out(attachment: Attachment) -> dict[str, Any]:
    return {"id": attachment.pk, "name": attachment.name, "path": attachment.path, "size": attachment.size,
            "sha256": attachment.sha256, "created_at": attachment.created_at,
            "message_id": attachment.message_id, "removed": attachment.removed}


@router.get("/conversations/{conversation_id}/attachments",
            response={200: list[AttachmentOut], **responses(401, 404, 422)},
            summary="The files attached to a conversation (sent, waiting and removed)")
async def list_attachments(request: HttpRequest, conversation_id: UUID) -> Any:
    conversation = await owned(request, conversation_id)
    return [attachment_out(a) async for a in Attachment.objects.owned_by(caller(request))
            .filter(conversation=conversation)]


@router.post("/conversations/{conversation_id}/attachments",
             response={201: AttachmentOut, **responses(400, 401, 403, 404, 413, 422)},
             summary="Attach a text file: it goes to your workspace and with your next message")
async def upload_attachment(request: HttpRequest, conversation_id: UUID, file: File[UploadedFile]) -> Any:
    conversation = await owned(request, conversation_id)
    try:
        attachment = await sync_to_async(service.add)(caller(request), conversation, file.name or "",
                                                      file.chunks(), size=file.size)
    except Refused as exc:
        raise ApiError(413 if exc.code == "too_large" else 422, exc.code, str(exc)) from None
    return Status(201, attachment_out(attachment))


@router.delete("/attachments/{attachment_id}", response={204: None, **responses(401, 403, 404, 422)},
               summary="Remove an attachment: its file is deleted from your workspace")
async def delete_attachment(request: HttpRequest, attachment_id: UUID) -> Any:
    try:
        await sync_to_async(service.remove)(caller(request), attachment_id)
    except service.NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return Status(204, None)
