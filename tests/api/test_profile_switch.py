"""``PUT /api/v1/conversations/{id}/profile`` and ``GET /api/v1/profiles`` (issue 14)."""

from __future__ import annotations

import pytest

from assistant.models import Conversation
from tests.assistant.runs.engine_helpers import use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


async def put_profile(client, convo, name):
    return await client.put(f"/api/v1/conversations/{convo.pk}/profile", {"profile": name},
                            content_type="application/json")


async def test_the_profiles_list_names_every_configured_profile(api, fake):
    body = (await api.get("/api/v1/profiles")).json()
    assert [p["name"] for p in body] == ["fake-openai", "fake-anthropic", "fake-responses", "demo"]
    assert body[1]["provider"] == "anthropic" and body[1]["model"] == "claude-test"


async def test_the_next_message_is_answered_by_the_profile_switched_to(api, fake, user):
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    fake.script_openai(tool_calls(call("calculator", {"expression": "6*7"}, id="call_api_1")), text("42."))
    first = await api.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "6*7?"},
                           content_type="application/json")
    assert first.json()["message"]["answered_by"]["name"] == "fake-openai"
    response = await put_profile(api, convo, "fake-anthropic")
    assert response.status_code == 200 and response.json()["profile"] == "fake-anthropic"
    fake.script_anthropic(text("Claude says 42 too."))
    reply = await api.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "sure?"},
                           content_type="application/json")
    assert reply.status_code == 200, reply.json()
    assert reply.json()["message"]["answered_by"]["name"] == "fake-anthropic"
    assert reply.json()["message"]["answered_by"]["fallback"] is False
    sent = fake.bodies("anthropic")[0]["messages"]
    assert sent[1]["content"][-1] == {"type": "tool_use", "id": "call_api_1", "name": "calculator",
                                      "input": {"expression": "6*7"}}
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_api_1",
                                      "content": '{"expression": "6*7", "result": 42}'}
    messages = (await api.get(f"/api/v1/conversations/{convo.pk}")).json()["messages"]
    assert [m["profile"] for m in messages] == [None, "fake-openai", None, "fake-openai",
                                                None, "fake-anthropic"]


async def test_an_unknown_profile_is_refused_and_the_conversation_keeps_its_own(api, fake, user):
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    response = await put_profile(api, convo, "gpt-99")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_profile"
    assert error["details"]["profiles"] == ["demo", "fake-anthropic", "fake-openai", "fake-responses"]
    assert (await Conversation.objects.aget(pk=convo.pk)).profile == "fake-openai"


async def test_another_users_conversation_is_not_found(other_api, fake, user):
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    response = await put_profile(other_api, convo, "fake-anthropic")
    assert response.status_code == 404
    assert (await Conversation.objects.aget(pk=convo.pk)).profile == "fake-openai"


async def test_a_read_only_token_cannot_switch(fake, user):
    from asgiref.sync import sync_to_async

    from assistant.api import tokens
    from tests.api.conftest import bearer

    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    secret = (await sync_to_async(tokens.create)(user, "ro", read_only=True)).secret
    response = await put_profile(bearer(secret), convo, "fake-anthropic")
    assert response.status_code == 403 and response.json()["error"]["code"] == "read_only_token"
    assert (await Conversation.objects.aget(pk=convo.pk)).profile == "fake-openai"
