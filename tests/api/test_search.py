"""``GET /api/v1/search``: the caller's titles and messages, full text, with exact errors."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


async def conversation(owner, title: str, *texts: str) -> Conversation:
    made = await Conversation.objects.acreate(owner=owner, profile="demo", title=title)
    for position, content in enumerate(texts):
        await Message.objects.acreate(conversation=made, position=position, role="user", content=content)
    return made


async def test_hits_name_the_message_and_link_to_it(api, user, other_user):
    mine = await conversation(user, "Trip", "a ferry to Bergen")
    await conversation(other_user, "Bergen too", "Bergen again")
    response = await api.get("/api/v1/search?q=bergen")
    assert response.status_code == 200
    body = response.json()
    message = await Message.objects.aget(conversation=mine)
    assert body == {"query": "bergen", "items": [{
        "conversation_id": str(mine.pk), "title": "Trip", "message_id": str(message.pk), "role": "user",
        "snippet": "a ferry to Bergen", "highlights": ["Bergen"], "url": f"/c/{mine.pk}/#m-{message.pk}",
    }]}


async def test_a_query_without_words_finds_nothing(api, user):
    await conversation(user, "?!", "?! indeed")
    response = await api.get("/api/v1/search?q=%3F%21")
    assert response.status_code == 200 and response.json() == {"query": "?!", "items": []}


async def test_the_query_is_required_and_bounded(api):
    assert (await api.get("/api/v1/search")).status_code == 422
    assert (await api.get("/api/v1/search?q=" + "x" * 201)).status_code == 422
