"""Fallback profiles: when a profile stays unavailable after its retries, the next answers.

Both profiles talk to the same fake server in different wire formats (OpenAI Chat
Completions, then Anthropic Messages), so the history — tool calls and results included —
must convert from one to the other.
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.models import Message, Run
from assistant.providers.profiles import chain, get_profiles
from tests.assistant.runs.engine_helpers import KEY_ENV, Calls, Recorder, make_engine, new_conversation
from tests.fakes.scripts import call, error, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")
    settings.LLM_RETRY_BASE_DELAY = 0.01
    settings.LLM_PROFILES = json.dumps({
        "primary": {"provider": "openai", "model": "gpt-test", "base_url": fake_llm.openai_base_url,
                    "api_key_env": KEY_ENV, "max_retries": 1, "fallbacks": ["backup"]},
        "backup": {"provider": "anthropic", "model": "claude-test", "base_url": fake_llm.anthropic_base_url,
                   "api_key_env": KEY_ENV, "max_retries": 1, "label": "Backup Claude"},
    })
    return fake_llm


async def messages_of(convo):
    return [m async for m in Message.objects.filter(conversation=convo).order_by("position")]


async def test_a_primary_down_after_its_retries_is_answered_by_the_fallback(fake, user, calls):
    fake.script_openai(error(503), error(503))
    fake.script_anthropic(text("Answered by the backup.", chunks=2))
    events = Recorder()
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls, emit=events).send(convo, user, "hello")
    assert run.status == Run.Status.COMPLETED, run.error
    assert [r.api for r in fake.requests] == ["openai", "openai", "anthropic"]
    answer = (await messages_of(convo))[-1]
    assert (answer.content, answer.profile) == ("Answered by the backup.", "backup")  # recorded
    switch = events.of("assistant.retry")[-1]
    assert (switch["profile"], switch["fallback"]) == ("backup", True)
    shown = events.of("assistant.message")[0]["message"]
    assert shown["profile"] == {"name": "backup", "label": "Backup Claude"}  # the user sees it


async def test_the_history_with_tool_calls_converts_to_the_fallbacks_wire_format(fake, user, calls):
    fake.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="call_primary_1"), text="Adding."),
                       error(500), error(500))
    fake.script_anthropic(text("2 + 3 = 5"))
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls).send(convo, user, "add 2 and 3")
    assert run.status == Run.Status.COMPLETED, run.error
    assert calls.counts == {"add": 1}
    sent = fake.bodies("anthropic")[0]["messages"]
    assert sent == [
        {"role": "user", "content": "add 2 and 3"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Adding."},
            {"type": "tool_use", "id": "call_primary_1", "name": "add", "input": {"a": 2, "b": 3}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_primary_1", "content": "5"}]},
    ]


async def test_after_a_fallback_the_rest_of_the_run_stays_on_it(fake, user, calls):
    fake.script_openai(error(500), error(500))
    fake.script_anthropic(tool_calls(call("add", {"a": 1, "b": 1}, id="toolu_b1")), text("Two."))
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls).send(convo, user, "add 1 and 1")
    assert run.status == Run.Status.COMPLETED, run.error
    assert [r.api for r in fake.requests] == ["openai", "openai", "anthropic", "anthropic"]
    assert [m.profile for m in await messages_of(convo) if m.role == "assistant"] == ["backup", "backup"]


async def test_a_next_run_tries_the_primary_again_and_converts_back(fake, user, calls):
    fake.script_openai(error(500), error(500))
    fake.script_anthropic(tool_calls(call("add", {"a": 1, "b": 1}, id="toolu_b1")), text("Two."))
    convo = await new_conversation(user, "primary")
    engine = make_engine(calls)
    await engine.send(convo, user, "add 1 and 1")
    fake.script_openai(text("Back on the primary."))
    run = await engine.send(convo, user, "thanks")
    assert run.status == Run.Status.COMPLETED
    sent = fake.bodies("openai")[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_calls"][0]["id"] == "toolu_b1" and sent[3]["tool_call_id"] == "toolu_b1"
    assert (await messages_of(convo))[-1].profile == ""  # the run's own profile answered


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_refused_request_never_falls_back(fake, user, calls, status):
    fake.script_openai(error(status))
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls).send(convo, user, "hello")
    assert run.status == Run.Status.FAILED
    assert [r.api for r in fake.requests] == ["openai"]


async def test_when_every_profile_is_down_the_run_fails_with_the_last_error(fake, user, calls):
    fake.script_openai(error(500), error(500))
    fake.script_anthropic(error(529), error(529))
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls).send(convo, user, "hello")
    assert run.status == Run.Status.FAILED and run.error_code == "provider_server_error"
    assert run.error == "Anthropic is overloaded (HTTP 529) after 2 attempts. Try again in a moment."
    assert len(fake.requests) == 4


def test_the_chain_is_the_profile_then_its_fallbacks(fake):
    assert [p.name for p in chain("primary")] == ["primary", "backup"]
    assert [p.name for p in chain("backup")] == ["backup"]


@pytest.mark.parametrize(("fallbacks", "message"), [
    (["nowhere"], "LLM_PROFILES['a'].fallbacks: there is no profile named 'nowhere'"),
    (["a"], "LLM_PROFILES['a'].fallbacks: a profile cannot be its own fallback"),
    ("demo", None),
    ([1], "LLM_PROFILES['a'].fallbacks must be a list of profile names"),
])
def test_fallbacks_must_name_configured_profiles(settings, fallbacks, message):
    settings.LLM_PROFILES = json.dumps({"a": {"provider": "demo", "fallbacks": fallbacks}})
    if message is None:
        assert get_profiles()["a"].fallbacks == ("demo",)
        return
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        get_profiles()


async def test_the_page_labels_an_answer_given_by_a_fallback(fake, user, calls):
    from django.test import AsyncClient

    fake.script_openai(error(503), error(503))
    fake.script_anthropic(text("From the backup."))
    convo = await new_conversation(user, "primary")
    await make_engine(calls).send(convo, user, "hello")
    fake.script_openai(text("From the primary."))
    await make_engine(calls).send(convo, user, "again")
    client = AsyncClient()
    await client.aforce_login(user)
    page = (await client.get(f"/c/{convo.pk}/")).content.decode()
    assert page.count("Answered by Backup Claude (fallback)") == 1
    label = page.index("Answered by Backup Claude")
    assert page.index("From the backup.") < label < page.index("From the primary.")


async def test_a_fallback_without_its_key_is_skipped_and_the_run_fails_cleanly(fake, user, calls, settings,
                                                                               monkeypatch):
    profiles = json.loads(settings.LLM_PROFILES)
    profiles["backup"]["api_key_env"] = "TOOLGATE_TEST_UNSET_KEY"
    monkeypatch.delenv("TOOLGATE_TEST_UNSET_KEY", raising=False)
    settings.LLM_PROFILES = json.dumps(profiles)
    fake.script_openai(error(500), error(500))
    convo = await new_conversation(user, "primary")
    run = await make_engine(calls).send(convo, user, "hello")
    assert run.status == Run.Status.FAILED and run.error_code == "provider_server_error"
    assert [r.api for r in fake.requests] == ["openai", "openai"]
    assert run.error == "OpenAI had a server error (HTTP 500) after 2 attempts. Try again later."
