"""``/api/v1/conversations``: listing, reading, starting, and chatting as JSON or as SSE."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from approvals import dispatch, services
from approvals.models import ApprovalRequest
from assistant.models import Conversation, Message, Run
from assistant.runs import chat
from tests.api.conftest import bearer
from tests.approvals.helpers import events_until, make_approver, open_socket
from tests.assistant.runs.engine_helpers import use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls
from tools.models import Note

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = {"headers": {"Accept": "text/event-stream"}}


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


@pytest.fixture
async def convo(user):
    return await Conversation.objects.acreate(owner=user, profile="fake-openai")


async def say(client, conversation, content: str, **extra) -> object:
    return await client.post(f"/api/v1/conversations/{conversation.pk}/messages",
                             {"content": content, **extra.pop("body", {})},
                             content_type="application/json", **extra)


async def read_sse(response) -> list[dict]:
    """Parse an event stream into frames: ``{"id", "event", "data"}``; comments are skipped."""
    raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    frames = []
    for block in raw.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            frames.append({"id": fields.get("id"), "event": fields["event"],
                           "data": json.loads(fields["data"])})
    return frames


# -- reading ----------------------------------------------------------------------------------

async def test_the_list_has_only_the_callers_conversations(api, user, other_user):
    mine = await Conversation.objects.acreate(owner=user, profile="demo", title="mine")
    await Conversation.objects.acreate(owner=other_user, profile="demo", title="theirs")
    body = (await api.get("/api/v1/conversations")).json()
    assert body["total"] == 1 and [c["id"] for c in body["items"]] == [str(mine.pk)]
    assert body["items"][0]["title"] == "mine" and body["items"][0]["active_run"] is None


async def test_the_list_is_paginated(api, user):
    for n in range(3):
        await Conversation.objects.acreate(owner=user, profile="demo", title=f"c{n}")
    body = (await api.get("/api/v1/conversations?limit=1&offset=1")).json()
    assert body["total"] == 3 and len(body["items"]) == 1


async def test_a_conversation_comes_with_its_messages(api, fake, convo):
    fake.script_openai(text("Hello, Alice."))
    await say(api, convo, "hi")
    body = (await api.get(f"/api/v1/conversations/{convo.pk}")).json()
    assert body["title"] == "hi" and body["profile"] == "fake-openai"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "hi"), ("assistant", "Hello, Alice.")]


async def test_another_users_conversation_is_404(other_api, convo):
    read = await other_api.get(f"/api/v1/conversations/{convo.pk}")
    sent = await say(other_api, convo, "hi")
    assert read.status_code == sent.status_code == 404
    assert read.json()["error"]["code"] == "not_found"
    assert not await Message.objects.filter(conversation=convo).aexists()


async def test_a_conversation_is_started_with_a_profile(api, user):
    response = await api.post("/api/v1/conversations", {"profile": "demo"}, content_type="application/json")
    assert response.status_code == 201
    made = await Conversation.objects.aget(pk=response.json()["id"])
    assert made.owner_id == user.pk and made.profile == "demo"


async def test_an_unknown_profile_is_refused(api):
    response = await api.post("/api/v1/conversations", {"profile": "gpt-99"}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_profile"
    assert not await Conversation.objects.aexists()


# -- chatting: JSON ---------------------------------------------------------------------------

async def test_a_message_is_answered_as_json_with_the_runs_outcome(api, fake, convo):
    fake.script_openai(tool_calls(call("calculator", {"expression": "6*7"}, id="c1")), text("It is **42**."))
    response = await say(api, convo, "what is 6*7?")
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["status"] == "completed" and body["run"]["steps"] == 2
    assert body["message"]["content"] == "It is **42**." and "<strong>42</strong>" in body["message"]["html"]
    [tool_call] = body["tool_calls"]
    assert tool_call["id"] == "c1" and tool_call["status"] == "ok" and tool_call["result"]["result"] == 42
    run = await Run.objects.aget(pk=body["run"]["id"])
    assert run.conversation_id == convo.pk and run.status == Run.Status.COMPLETED


async def test_the_demo_profile_answers_offline(api, user):
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    body = (await say(api, convo, "what is 12*7")).json()
    assert body["run"]["status"] == "completed" and "84" in body["message"]["content"]


async def test_a_failed_run_is_reported_in_the_reply(api, fake, convo, settings):
    from tests.fakes.scripts import error

    settings.LLM_MAX_RETRIES = 0
    fake.script_openai(error(500))
    body = (await say(api, convo, "hi")).json()
    assert body["run"]["status"] == "failed" and body["run"]["error"]["code"] == "provider_server_error"
    assert body["message"] is None


async def test_a_call_that_needs_approval_answers_202_with_its_approval(api, fake, user, convo,
                                                                        django_user_model):
    note = await Note.objects.acreate(owner=user, text="old plan")
    fake.script_openai(tool_calls(call("delete_note", {"note_id": note.pk}, id="d1")), text("Deleted it."))
    response = await say(api, convo, "delete my note")
    assert response.status_code == 202
    body = response.json()
    assert body["run"]["status"] == "waiting" and body["message"] is None
    [pending] = body["tool_calls"]
    approval = await ApprovalRequest.objects.aget(pk=pending["approval_id"])
    assert pending["status"] == "pending" and approval.tool_call_id == pending["record_id"]
    approver = await sync_to_async(make_approver)(django_user_model)
    await sync_to_async(services.decide)(approval.pk, approver, services.APPROVE)
    await dispatch.wait_idle()
    await chat.wait_idle()
    assert not await Note.objects.filter(pk=note.pk).aexists()
    finished = (await api.get(f"/api/v1/conversations/{convo.pk}")).json()
    assert finished["active_run"] is None and finished["messages"][-1]["content"] == "Deleted it."


async def test_a_message_while_a_run_is_active_is_409_run_in_progress(api, user, convo):
    active = await Run.objects.acreate(conversation=convo, user=user, profile=convo.profile, max_steps=8)
    response = await say(api, convo, "hello?")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "run_in_progress" and error["details"]["run_id"] == str(active.pk)
    assert not await Message.objects.filter(conversation=convo).aexists()


async def test_a_repeated_client_id_is_not_processed_twice(api, fake, convo):
    fake.script_openai(text("once"))
    client_id = str(uuid.uuid4())
    first = await say(api, convo, "hi", body={"client_id": client_id})
    again = await say(api, convo, "hi", body={"client_id": client_id})
    assert first.status_code == 200
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_message"
    assert await Message.objects.filter(conversation=convo, role="user").acount() == 1


async def test_an_empty_or_too_long_message_is_refused(api, convo, settings):
    settings.ASSISTANT_MAX_MESSAGE_CHARS = 10
    blank = await say(api, convo, "   ")
    long = await say(api, convo, "x" * 11)
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "validation_error"
    assert long.status_code == 422 and long.json()["error"]["code"] == "message_too_long"


async def test_a_message_with_a_nul_character_is_refused_not_a_500(api, convo):
    refused = await say(api, convo, "nul \x00 inside")
    assert refused.status_code == 422, refused.content
    assert refused.json()["error"] == {
        "code": "unstorable_character", "details": None,
        "message": "The message was not sent: it contains a NUL character (U+0000) or an unpaired "
                   "surrogate, which cannot be stored. Remove it and send it again."}
    assert not await Message.objects.filter(conversation=convo).aexists()


async def test_a_message_with_a_lone_surrogate_is_refused_by_validation(api, convo):
    refused = await say(api, convo, "a lone surrogate \udc79")
    assert refused.status_code == 422, refused.content
    assert refused.json()["error"]["details"] == [{
        "loc": ["body", "data", "content"], "type": "string_unicode",
        "message": "Input should be a valid string, unable to parse raw data as a unicode string"}]
    assert not await Message.objects.filter(conversation=convo).aexists()
    assert not await Message.objects.filter(conversation=convo).aexists()


async def test_a_read_only_token_cannot_send_messages(user, convo):
    from assistant.api import tokens

    reader = bearer((await sync_to_async(tokens.create)(user, "reader", read_only=True)).secret)
    response = await say(reader, convo, "hi")
    assert response.status_code == 403 and response.json()["error"]["code"] == "read_only_token"


# -- chatting: Server-Sent Events -------------------------------------------------------------

async def test_the_event_stream_carries_the_runs_events_in_order(api, fake, convo):
    fake.script_openai(tool_calls(call("calculator", {"expression": "2+2"}, id="c1")),
                       text("It is 4.", chunks=3))
    response = await say(api, convo, "what is 2+2?", **STREAM)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    frames = await read_sse(response)
    types = [f["event"] for f in frames]
    assert types[0] == "message.created" and types[-1] == "run.finished"
    assert types.index("tool.call") < types.index("tool.result") < types.index("assistant.message")
    assert "assistant.delta" in types
    for frame in frames:
        assert frame["data"]["type"] == frame["event"]
        assert frame["data"]["conversation_id"] == str(convo.pk)
        if frame["event"] == "tool.call.delta":  # streamed arguments: ephemeral, no seq, no id
            assert "seq" not in frame["data"] and frame.get("id") is None
        else:
            assert frame["id"] == str(frame["data"]["seq"])
    streamed = [f["data"] for f in frames if f["event"] == "tool.call.delta"]
    assert json.loads("".join(d["delta"] for d in streamed)) == {"expression": "2+2"}
    frames = [f for f in frames if f["event"] != "tool.call.delta"]
    seqs = [f["data"]["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert frames[-1]["data"]["run"]["status"] == "completed"
    result = next(f["data"] for f in frames if f["event"] == "tool.result")
    assert result["tool_call"]["id"] == "c1" and result["tool_call"]["result"]["result"] == 4


async def test_the_event_stream_is_what_an_open_websocket_sees(api, fake, user, convo):
    fake.script_openai(text("Same for everyone.", chunks=4))
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    try:
        response = await say(api, convo, "hi", **STREAM)
        frames = await read_sse(response)
        seen = await events_until(socket, "run.finished")
    finally:
        await socket.disconnect()
    assert [f["data"] for f in frames] == seen


async def test_a_stream_that_needs_approval_ends_with_run_waiting(api, fake, user, convo):
    note = await Note.objects.acreate(owner=user, text="old plan")
    fake.script_openai(tool_calls(call("delete_note", {"note_id": note.pk}, id="d1")))
    frames = await read_sse(await say(api, convo, "delete it", **STREAM))
    types = [f["event"] for f in frames]
    assert types[-1] == "run.waiting" and "approval.requested" in types
    await Run.objects.filter(conversation=convo).aupdate(status=Run.Status.CANCELLED)  # let the fake rest


async def test_a_stream_refused_before_it_starts_is_a_json_error(api, user, convo):
    await Run.objects.acreate(conversation=convo, user=user, profile=convo.profile, max_steps=8)
    response = await say(api, convo, "hi", **STREAM)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_in_progress"


def test_the_browser_session_can_chat_with_the_csrf_token(user, settings):
    convo = Conversation.objects.create(owner=user, profile="demo")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/settings/tokens/")
    response = client.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "what is 2*21"},
                           content_type="application/json",
                           headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert response.status_code == 200 and "42" in response.json()["message"]["content"]


def test_under_wsgi_an_event_stream_request_gets_the_json_reply(user, secret):
    convo = Conversation.objects.create(owner=user, profile="demo")
    response = Client().post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "what is 2*21"},
                             content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}", "Accept": "text/event-stream"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["run"]["status"] == "completed"


async def test_the_event_stream_withdraws_a_broken_attempts_text_with_assistant_retry(api, fake, convo):
    fake.script_openai(text("Broken half of an answer", chunks=4).fault("cut", "text"),
                       text("The whole answer.", chunks=2))
    frames = await read_sse(await say(api, convo, "hello", **STREAM))
    types = [f["event"] for f in frames]
    retry = types.index("assistant.retry")
    withdrawn = frames[retry]["data"]
    deltas = [f["data"] for f in frames if f["event"] == "assistant.delta"]
    assert {d["message_id"] for d in deltas} == {withdrawn["message_id"]}
    # a client that drops the text before assistant.retry is left with exactly the answer
    kept = "".join(f["data"]["delta"] for f in frames[retry:] if f["event"] == "assistant.delta")
    assert kept == "The whole answer." and withdrawn["attempt"] == 2 and withdrawn["fallback"] is False
    assert frames[-1]["data"]["run"]["status"] == "completed"


async def test_the_json_reply_is_the_retried_answer_only(api, fake, convo):
    fake.script_openai(text("Broken half", chunks=2).fault("drop", "text"), text("Whole."))
    body = (await say(api, convo, "hello")).json()
    assert body["message"]["content"] == "Whole." and body["run"]["status"] == "completed"
