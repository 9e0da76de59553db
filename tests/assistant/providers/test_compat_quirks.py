"""Quirks of OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio) the adapter absorbs."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from assistant.providers.base import ChatMessage, ChatRequest, ProviderError, ToolCallStarted
from assistant.providers.openai_chat import OpenAIChatProvider
from assistant.providers.profiles import Profile, build_provider
from tests.assistant.providers.support import (
    calculator,
    calls,
    collect,
    current_time,
    finished,
    of_type,
    text_of,
)
from tests.fakes.scripts import call, error, text, tool_calls


@pytest.fixture
async def provider(fake_llm):
    client = AsyncOpenAI(api_key="not-needed", base_url=fake_llm.openai_base_url, max_retries=0)
    yield OpenAIChatProvider(client=client, name="openai_compatible", label="the model server",
                             max_tokens_param="max_tokens")
    await client.close()


def ask(**options) -> ChatRequest:
    return ChatRequest(model="llama3.1", messages=[ChatMessage("user", "hi")], **options)


async def test_missing_call_ids_get_stable_distinct_ids(fake_llm, provider):
    step = tool_calls(call("calculator", {"expression": "1+1"}), call("current_time", {"timezone": "UTC"}),
                      omit_ids=True, response_id="chatcmpl-same")
    fake_llm.script_openai(step, step)

    first = await collect(provider, ask(tools=[calculator, current_time]))
    again = await collect(provider, ask(tools=[calculator, current_time]))

    ids = [c.id for c in calls(first)]
    assert all(i.startswith("call_") for i in ids)
    assert len(set(ids)) == 2
    assert [c.id for c in calls(again)] == ids  # same stream, same ids
    assert [s.id for s in of_type(first, ToolCallStarted)] == ids  # started and finished agree


async def test_missing_call_ids_differ_between_responses(fake_llm, provider):
    same_call = call("calculator", {"expression": "1"})
    fake_llm.script_openai(tool_calls(same_call, omit_ids=True, response_id="r1"),
                           tool_calls(same_call, omit_ids=True, response_id="r2"))

    one = await collect(provider, ask(tools=[calculator]))
    two = await collect(provider, ask(tools=[calculator]))

    assert calls(one)[0].id != calls(two)[0].id


async def test_arguments_sent_as_an_object_are_encoded_as_json_text(fake_llm, provider):
    fake_llm.script_openai(tool_calls(call("calculator", {"expression": "6*7"}, id="c1"),
                                      args_as_object=True))

    events = await collect(provider, ask(tools=[calculator]))

    assert calls(events)[0].arguments == '{"expression": "6*7"}'


async def test_reasoning_content_is_not_answer_text(fake_llm, provider):
    fake_llm.script_openai(text("It is 4.", chunks=2, reasoning="<think>2+2, obviously</think>"))

    events = await collect(provider, ask())

    assert text_of(events) == "It is 4."


async def test_tool_calls_finishing_with_stop_still_finish_as_tool_calls(fake_llm, provider):
    # Ollama sends the whole call in one chunk and finish_reason "stop".
    fake_llm.script_openai(tool_calls(call("calculator", {"expression": "2+2"}, id="c1", fragments=1))
                           .finishing("stop"))

    events = await collect(provider, ask(tools=[calculator]))

    done = finished(events)
    assert (done.reason, done.raw_reason) == ("tool_calls", "stop")
    assert calls(events)[0].arguments == '{"expression":"2+2"}'


async def test_a_plain_answer_finishing_with_stop_stays_stop(fake_llm, provider):
    fake_llm.script_openai(text("hello"))

    events = await collect(provider, ask(tools=[calculator]))

    assert finished(events).reason == "stop"


async def test_calls_without_an_index_are_told_apart_by_id_or_name(fake_llm, provider):
    fake_llm.script_openai(
        tool_calls(call("calculator", {"expression": "1+1"}, id="a"),
                   call("calculator", {"expression": "2"}, id="b"), omit_index=True),
        tool_calls(call("calculator", {"expression": "1+1"}), call("current_time", {"timezone": "UTC"}),
                   omit_index=True, omit_ids=True),
    )

    by_id = await collect(provider, ask(tools=[calculator]))
    by_name = await collect(provider, ask(tools=[calculator, current_time]))

    assert [(c.index, c.id, c.arguments) for c in calls(by_id)] == [
        (0, "a", '{"expression":"1+1"}'), (1, "b", '{"expression":"2"}')]
    assert [(c.index, c.name, c.arguments) for c in calls(by_name)] == [
        (0, "calculator", '{"expression":"1+1"}'), (1, "current_time", '{"timezone":"UTC"}')]


async def test_all_quirks_at_once(fake_llm, provider):
    fake_llm.script_openai(tool_calls(
        call("calculator", {"expression": "2+2"}), call("current_time", {"timezone": "Asia/Tokyo"}),
        omit_ids=True, args_as_object=True, reasoning="hmm", response_id="chatcmpl-q",
    ).finishing("stop"))

    events = await collect(provider, ask(tools=[calculator, current_time]))

    assert [(c.index, c.name, c.arguments) for c in calls(events)] == [
        (0, "calculator", '{"expression": "2+2"}'), (1, "current_time", '{"timezone": "Asia/Tokyo"}'),
    ]
    assert text_of(events) == ""
    assert finished(events).reason == "tool_calls"


async def test_the_compatible_profile_sends_max_tokens_and_a_placeholder_key(fake_llm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_llm.script_openai(text("ok"))
    profile = Profile("local", "openai_compatible", "llama3.1", base_url=fake_llm.openai_base_url,
                      label="Local", max_retries=0, timeout=5)

    provider = build_provider(profile)
    events = await collect(provider, ask(max_tokens=50))
    await provider.aclose()

    assert text_of(events) == "ok"
    body = fake_llm.last_body
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert body["model"] == "llama3.1"
    assert fake_llm.last_request.headers["authorization"] == "Bearer not-needed"


async def test_a_compatible_server_error_names_the_server_not_openai(fake_llm):
    fake_llm.script_openai(error(404, "model 'llama9' not found"))
    profile = Profile("local", "openai_compatible", "llama9", base_url=fake_llm.openai_base_url,
                      max_retries=0, timeout=5)

    provider = build_provider(profile)
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())
    await provider.aclose()

    host = fake_llm.url.split("//")[1]
    assert caught.value.user_message == (
        f"The model server at {host} rejected the request (HTTP 404): model 'llama9' not found"
    )
