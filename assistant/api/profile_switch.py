"""``PUT /api/v1/conversations/{id}/profile``: the model profile of the next answers (issue 14).

The same service as the chat page's model menu (assistant/transcript/switch.py): the
conversation's profile changes, a reply being written keeps the profile it started with,
and the history is converted to the new profile's wire format when it next answers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, Field

from assistant.api.conversations import conversation_out, owned
from assistant.api.errors import ApiError, responses
from assistant.api.schemas import ConversationOut
from assistant.transcript.switch import SwitchRefused, switch_profile

router = Router(tags=["conversations"])


class ProfileIn(BaseModel):
    profile: str = Field(min_length=1, max_length=64,
                         description="A configured model profile's name (GET /api/v1/profiles lists them).")


class ProfileOut(BaseModel):
    name: str
    label: str
    provider: str
    model: str


@router.get("/profiles", response={200: list[ProfileOut], **responses(401)},
            summary="The model profiles you may switch a conversation to")
async def list_profiles(request: HttpRequest) -> Any:
    from assistant.transcript.switch import usable_profiles

    return [{"name": p.name, "label": p.label or p.name, "provider": p.provider, "model": p.model}
            for p in usable_profiles().values()]


@router.put("/conversations/{conversation_id}/profile",
            response={200: ConversationOut, **responses(400, 401, 403, 404, 422)},
            summary="Switch the model profile for the conversation's next answers")
async def put_profile(request: HttpRequest, conversation_id: UUID, data: ProfileIn) -> Any:
    conversation = await owned(request, conversation_id)
    try:
        await sync_to_async(switch_profile)(conversation, data.profile)
    except SwitchRefused as exc:
        raise ApiError(422, "unknown_profile", str(exc), {"profiles": exc.choices}) from None
    return await conversation_out(conversation)
