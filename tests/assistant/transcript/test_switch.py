"""Switching the model profile mid-conversation (issue 14): the next answer comes from the
new profile, whose SDK is sent the whole history in its own wire format — tool calls and
their results included, each tool_use paired with its tool_result — and back again.

The real openai and anthropic SDKs talk to the scripted fake server (tests/fakes).
"""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message
from assistant.providers.profiles import get_profiles
from assistant.transcript.switch import SwitchRefused, switch_profile
from tests.assistant.runs.engine_helpers import (
    Calls,
    Recorder,
    make_engine,
    new_conversation,
    use_fake_profiles,
)
from tests.fakes.scripts import call, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


async def switch(convo: Conversation, name: str) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(switch_profile)(convo, name)


async def test_an_openai_history_with_tool_calls_continues_on_anthropic(fake, user):
    calls = Calls()
    fake.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="call_first_1"), text="Adding."),
                       text("2 + 3 = 5"))
    convo = await new_conversation(user, "fake-openai")
    engine = make_engine(calls)
    await engine.send(convo, user, "add 2 and 3")
    await switch(convo, "fake-anthropic")
    fake.script_anthropic(text("Claude here: it was 5."))
    events = Recorder()
    engine.emit = events
    run = await engine.send(convo, user, "who are you?")
    assert run.status == "completed", run.error
    assert run.profile == "fake-anthropic"
    body = fake.bodies("anthropic")[0]
    assert body["model"] == "claude-test"
    assert body["messages"] == [
        {"role": "user", "content": "add 2 and 3"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Adding."},
            {"type": "tool_use", "id": "call_first_1", "name": "add", "input": {"a": 2, "b": 3}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_first_1", "content": "5"}]},
        {"role": "assistant", "content": "2 + 3 = 5"},
        {"role": "user", "content": "who are you?"},
    ]
    shown = events.of("assistant.message")[0]["message"]
    label = get_profiles()["fake-anthropic"].label
    assert shown["answered_by"] == {"name": "fake-anthropic", "label": label, "fallback": False}
    assert "profile" not in shown  # not a fallback


async def test_an_anthropic_history_with_tool_calls_goes_back_to_openai(fake, user):
    calls = Calls()
    convo = await new_conversation(user, "fake-openai")
    engine = make_engine(calls)
    fake.script_openai(text("Hello from GPT."))
    await engine.send(convo, user, "hi")
    await switch(convo, "fake-anthropic")
    fake.script_anthropic(tool_calls(call("add", {"a": 1, "b": 1}, id="toolu_claude_1")), text("Two."))
    await engine.send(convo, user, "add 1 and 1")
    await switch(convo, "fake-openai")
    fake.script_openai(text("Back on GPT."))
    run = await engine.send(convo, user, "thanks")
    assert run.status == "completed", run.error
    assert calls.counts == {"add": 1}
    sent = fake.bodies("openai")[-1]["messages"]
    assert sent[0]["role"] == "system"
    assert sent[1:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello from GPT."},
        {"role": "user", "content": "add 1 and 1"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_claude_1", "type": "function",
             "function": {"name": "add", "arguments": '{"a":1,"b":1}'}}]},  # as Anthropic sent it
        {"role": "tool", "tool_call_id": "toolu_claude_1", "content": "2"},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "thanks"},
    ]
    answers = [m async for m in Message.objects.filter(conversation=convo, role="assistant")
               .select_related("run").order_by("position")]
    assert [m.profile or m.run.profile for m in answers] == [
        "fake-openai", "fake-anthropic", "fake-anthropic", "fake-openai"]


async def test_a_switch_during_a_reply_leaves_that_reply_on_its_profile(fake, user):
    from asgiref.sync import sync_to_async

    from assistant.runs import store

    convo = await new_conversation(user, "fake-openai")
    started = await sync_to_async(store.start_run)(convo, user, "hello", max_steps=5)
    await switch(convo, "fake-anthropic")  # after the run started, before it is driven
    fake.script_openai(text("Still GPT."))
    run = await make_engine(Calls()).drive(started.run, user)
    assert (run.status, run.profile) == ("completed", "fake-openai")
    assert [r.api for r in fake.requests] == ["openai"]
    assert (await Conversation.objects.aget(pk=convo.pk)).profile == "fake-anthropic"


def test_a_run_uses_the_profile_switched_to_even_from_a_conversation_loaded_before(fake, user):
    from assistant.runs import store

    held = Conversation.objects.create(owner=user, profile="fake-openai")  # e.g. by an open socket
    switch_profile(Conversation.objects.get(pk=held.pk), "fake-anthropic")  # the page's menu
    started = store.start_run(held, user, "hello", max_steps=5)
    assert started.run.profile == "fake-anthropic"


def test_an_unknown_profile_is_refused_with_the_choices_and_nothing_changes(fake, user):
    convo = Conversation.objects.create(owner=user, profile="fake-openai")
    with pytest.raises(SwitchRefused) as refused:
        switch_profile(convo, "gpt-99\x00")
    assert str(refused.value) == (
        "There is no model profile named “gpt-99\\0”; choose one of: "
        "demo, fake-anthropic, fake-openai, fake-responses.")
    assert Conversation.objects.get(pk=convo.pk).profile == "fake-openai"


def test_switching_to_the_same_profile_changes_nothing(fake, user):
    convo = Conversation.objects.create(owner=user, profile="fake-openai")
    assert switch_profile(convo, "fake-openai").changed is False
    assert switch_profile(convo, "fake-anthropic").changed is True
    assert Conversation.objects.get(pk=convo.pk).profile == "fake-anthropic"
