"""``/api/v1/conversations``: the caller's conversations, their messages, and chatting.

Lookups go through ``Conversation.objects.owned_by``, as the pages and the socket do:
another user's conversation is not found (404), never "forbidden".

``POST /conversations/{id}/messages`` runs the chat engine for one message. By default it
answers once the run stops, as JSON: 200 when the run finished (completed, failed or
cancelled: see ``run.status``), 202 when it waits for an approval. With
``Accept: text/event-stream`` it streams the run's events instead (see assistant.api.streaming);
that needs an ASGI server, and under WSGI the answer is JSON.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field as NinjaField
from ninja import Query, Router, Schema, Status

from assistant.api.auth import caller
from assistant.api.errors import ApiError, responses
from assistant.api.schemas import (
    ConversationDetail,
    ConversationIn,
    ConversationOut,
    ConversationPage,
    MessageIn,
    ReplyOut,
)
from assistant.api.streaming import RunStream
from assistant.models import Conversation, Message, Run
from assistant.providers.profiles import default_profile, get_profiles
from assistant.runs.chat import UNSTORABLE_MESSAGE
from assistant.runs.payloads import run_payload
from tools.dbfields import has_unstorable

router = Router(tags=["conversations"])

EVENT_STREAM = "text/event-stream"
SSE_DOC = {
    "description": "With `Accept: text/event-stream`: the run's events as Server-Sent Events "
                   "(`id: <seq>`, `event: <type>`, `data: <JSON>`), ending with run.finished or run.waiting.",
    "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
}


class PageParams(Schema):
    limit: int = NinjaField(50, ge=1, le=200)
    offset: int = NinjaField(0, ge=0, le=1_000_000_000)


async def owned(request: HttpRequest, conversation_id: UUID) -> Conversation:
    found = await Conversation.objects.owned_by(caller(request)).filter(pk=conversation_id).afirst()
    if found is None:
        raise ApiError(404, "not_found", f"There is no conversation {conversation_id} of yours.")
    return found


async def conversation_out(conversation: Conversation) -> dict[str, Any]:
    active = await conversation.runs.filter(status__in=[Run.Status.RUNNING, Run.Status.WAITING]).afirst()
    return {"id": conversation.pk, "title": conversation.title, "profile": conversation.profile,
            "created_at": conversation.created_at, "updated_at": conversation.updated_at,
            "active_run": run_payload(active) if active is not None else None}


@router.get("/conversations", response={200: ConversationPage, **responses(401, 422)},
            summary="Your conversations, most recently active first")
async def list_conversations(request: HttpRequest, page: Query[PageParams]) -> Any:
    mine = Conversation.objects.owned_by(caller(request))
    items = [await conversation_out(c) async for c in mine[page.offset:page.offset + page.limit]]
    return {"items": items, "total": await mine.acount(), "limit": page.limit, "offset": page.offset}


@router.post("/conversations", response={201: ConversationOut, **responses(400, 401, 403, 422)},
             summary="Start a conversation")
async def create_conversation(request: HttpRequest, data: ConversationIn) -> Any:
    profile = data.profile or default_profile().name
    if profile not in get_profiles():
        raise ApiError(422, "unknown_profile", f"There is no model profile named {profile!r}.",
                       {"profiles": sorted(get_profiles())})
    conversation = await Conversation.objects.acreate(owner=caller(request), profile=profile)
    return Status(201, await conversation_out(conversation))


@router.get("/conversations/{conversation_id}",
            response={200: ConversationDetail, **responses(401, 404, 422)},
            summary="A conversation with its messages")
async def get_conversation(request: HttpRequest, conversation_id: UUID) -> Any:
    conversation = await owned(request, conversation_id)
    body = await conversation_out(conversation)
    body["messages"] = [
        {"id": m.pk, "role": m.role, "content": m.content, "status": m.status, "created_at": m.created_at,
         "tool_calls": m.tool_calls or [], "tool_results": m.tool_results or [],
         "profile": answered_by(m)}
        async for m in Message.objects.filter(conversation=conversation).select_related("run")
        .order_by("position")
    ]
    return body


def answered_by(message: Message) -> str | None:
    """An assistant turn's profile: the fallback that wrote it, else its run's (issue 14)."""
    if message.role != Message.Role.ASSISTANT:
        return None
    return message.profile or (message.run.profile if message.run is not None else None)


@router.post("/conversations/{conversation_id}/messages",
             response={200: ReplyOut, 202: ReplyOut, **responses(400, 401, 403, 404, 409, 422, 429)},
             openapi_extra={"responses": {200: SSE_DOC}},
             summary="Send a message and get the reply (JSON, or streamed with Accept: text/event-stream)")
async def send_message(request: HttpRequest, conversation_id: UUID, data: MessageIn) -> Any:
    conversation = await owned(request, conversation_id)
    limit = settings.ASSISTANT_MAX_MESSAGE_CHARS
    if len(data.content) > limit:
        raise ApiError(422, "message_too_long", f"Messages may be at most {limit} characters.",
                       {"limit": limit, "length": len(data.content)})
    if has_unstorable(data.content):
        raise ApiError(422, "unstorable_character", UNSTORABLE_MESSAGE)
    stream = RunStream(conversation)
    await stream.start(caller(request), data.content, data.client_id)
    if wants_event_stream(request):
        response = StreamingHttpResponse(stream.sse(), content_type=EVENT_STREAM)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    reply = await stream.reply()
    return Status(202 if reply["run"].get("status") == Run.Status.WAITING else 200, reply)


def wants_event_stream(request: HttpRequest) -> bool:
    """Asked for with ``Accept``, and possible: only an ASGI server streams while the run goes
    on (under WSGI the request's event loop ends with the view, so the answer is JSON)."""
    accepted = [part.split(";")[0].strip().lower() for part in request.headers.get("Accept", "").split(",")]
    return EVENT_STREAM in accepted and isinstance(request, ASGIRequest)
