"""Context management: the oldest whole turns are left out beyond the profile's budget."""

from __future__ import annotations

import json

import pytest

from assistant.models import Message, Run
from assistant.providers.base import ChatMessage, ToolCallPart, ToolResultPart
from assistant.runs import context
from tests.assistant.runs.engine_helpers import KEY_ENV, Calls, Recorder, make_engine, new_conversation
from tests.fakes.scripts import text


def turn(n: int, words: int = 50) -> list[ChatMessage]:
    body = " ".join(["word"] * words)
    return [ChatMessage("user", f"question {n} {body}"),
            ChatMessage("assistant", tool_calls=(ToolCallPart(f"c{n}", "add", '{"a":1,"b":2}'),)),
            ChatMessage("tool", tool_results=(ToolResultPart(f"c{n}", "add", "3"),)),
            ChatMessage("assistant", f"answer {n} {body}")]


def test_a_history_within_the_budget_is_sent_whole():
    history = turn(1) + turn(2)
    assert context.fit(history, 100_000) == (history, 0)


def test_the_oldest_whole_turns_are_dropped_first_and_calls_keep_their_results():
    history = [m for n in range(10) for m in turn(n)]
    per_turn = sum(context.size(m) for m in turn(0))
    sent, dropped = context.fit(history, per_turn * 3 + 10)
    assert dropped == 28 and sent == history[28:]
    assert sent[0].role == "user"
    calls = {c.id for m in sent for c in m.tool_calls}
    results = {r.call_id for m in sent for r in m.tool_results}
    assert calls == results == {"c7", "c8", "c9"}


def test_the_current_turn_is_kept_even_when_it_alone_is_over_the_budget():
    history = turn(1) + turn(2, words=5000)
    sent, dropped = context.fit(history, 1000)
    assert sent == history[4:] and dropped == 4


def test_the_reserved_part_counts_against_the_budget():
    history = turn(1) + turn(2)
    total = sum(context.size(m) for m in history)
    assert context.fit(history, total)[1] == 0
    assert context.fit(history, total, reserved=50)[1] == 4


@pytest.fixture
def small_budget(fake_llm, settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    settings.LLM_PROFILES = json.dumps({"small": {
        "provider": "openai", "model": "gpt-test", "base_url": fake_llm.openai_base_url,
        "api_key_env": KEY_ENV, "context_tokens": 1500}})
    return fake_llm


@pytest.mark.django_db(transaction=True)
async def test_a_long_conversation_sends_only_recent_turns_and_the_user_is_told(small_budget, user):
    convo = await new_conversation(user, "small")
    filler = " ".join(["lorem"] * 300)  # ~450 tokens a turn
    for n in range(6):
        await Message.objects.acreate(conversation=convo, position=2 * n, role="user",
                                      content=f"q{n} {filler}")
        await Message.objects.acreate(conversation=convo, position=2 * n + 1, role="assistant",
                                      content=f"a{n} {filler}")
    small_budget.script_openai(text("fine"))
    events = Recorder()
    run = await make_engine(Calls(), emit=events).send(convo, user, "and now?")
    assert run.status == Run.Status.COMPLETED
    sent = small_budget.last_body["messages"]
    assert sent[0]["role"] == "system" and sent[-1] == {"role": "user", "content": "and now?"}
    assert sent[1]["role"] == "user" and sent[1]["content"].startswith("q5 ")  # whole turns, newest kept
    [trimmed] = events.of("context.trimmed")
    assert trimmed["dropped_messages"] == 10 and trimmed["kept_messages"] == len(sent) - 1
    assert await Message.objects.filter(conversation=convo).acount() == 14  # nothing deleted


@pytest.mark.django_db(transaction=True)
async def test_a_thousand_message_conversation_is_answered_with_its_whole_history(fake_llm, settings,
                                                                                  monkeypatch, user):
    from tests.assistant.runs.engine_helpers import use_fake_profiles

    use_fake_profiles(settings, monkeypatch, fake_llm)
    convo = await new_conversation(user)
    rows = []
    for position in range(1000):
        role = "user" if position % 2 == 0 else "assistant"
        rows.append(Message(conversation=convo, position=position, role=role, content=f"m{position}"))
    await Message.objects.abulk_create(rows)
    fake_llm.script_openai(text("first"), text("second"))
    engine = make_engine(Calls())
    assert (await engine.send(convo, user, "one more")).status == Run.Status.COMPLETED
    # the second run reads only what the first added (cached history), and sends the same
    # history a fresh read gives
    assert (await engine.send(convo, user, "and another")).status == Run.Status.COMPLETED
    sent = fake_llm.last_body["messages"]
    assert len(sent) == 1 + 1000 + 3
    assert [m["content"] for m in sent[-4:-1]] == ["m999", "one more", "first"]

