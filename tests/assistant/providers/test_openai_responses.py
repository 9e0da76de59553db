"""The OpenAI Responses adapter, driven through the real SDK against the fake server."""

from __future__ import annotations

import pytest

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    OutputFormat,
    ProviderError,
    ProviderState,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    Usage,
)
from assistant.providers.openai_responses import STATE_KEY, OpenAIResponsesProvider
from tests.assistant.providers.support import (
    OPENAI_KEY,
    ask,
    calculator,
    calls,
    collect,
    collect_until_error,
    current_time,
    finished,
    of_type,
    tag_things,
    text_of,
)
from tests.fakes.scripts import call, error, refusal, reply, text, tool_calls

API_KEY = OPENAI_KEY


@pytest.fixture
def provider(openai_client):
    return OpenAIResponsesProvider(client=openai_client)


async def test_output_text_deltas_concatenate_to_the_answer_with_usage(fake_llm, provider):
    fake_llm.script_responses(text("Hello there, world!", chunks=3).with_usage(11, 3))
    events = await collect(provider, ask())
    assert len(of_type(events, TextDelta)) == 3
    assert text_of(events) == "Hello there, world!"
    assert of_type(events, Usage) == [Usage(11, 3)]
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("stop", "completed")
    assert done.message_id == f"resp_fake_{fake_llm.last_request.seq}"


async def test_the_request_is_stateless_streams_and_asks_for_encrypted_reasoning(fake_llm, provider):
    fake_llm.script_responses(text("ok"))
    await collect(provider, ask("Hi", system="Be brief.", max_tokens=50))
    request = fake_llm.last_request
    assert request.path == "/v1/responses"
    assert request.body == {
        "model": "gpt-test", "input": [{"role": "user", "content": "Hi"}], "max_output_tokens": 50,
        "store": False, "include": ["reasoning.encrypted_content"], "instructions": "Be brief.",
        "stream": True,
    }


async def test_payload_is_exactly_the_body_sent_minus_the_stream_flag(fake_llm, provider):
    fake_llm.script_responses(text("ok"))
    request = ask("2+2?", tools=[calculator], tool_choice="required", parallel_tool_calls=False)
    await collect(provider, request)
    sent = dict(fake_llm.last_body)
    assert sent.pop("stream") is True
    assert sent == provider.payload(request)


async def test_a_function_call_is_started_streamed_in_fragments_and_finished(fake_llm, provider):
    fake_llm.script_responses(tool_calls(call("calculator", {"expression": "2+2"}, id="call_1", fragments=4)))
    events = await collect(provider, ask(tools=[calculator]))
    assert of_type(events, ToolCallStarted) == [ToolCallStarted(0, "call_1", "calculator")]
    deltas = of_type(events, ToolCallDelta)
    assert len(deltas) == 4 and "".join(d.arguments_delta for d in deltas) == '{"expression":"2+2"}'
    assert calls(events) == [ToolCallFinished(0, "call_1", "calculator", '{"expression":"2+2"}')]
    assert finished(events).reason == "tool_calls"
    body = fake_llm.last_body
    assert body["tools"] == [{"type": "function", "name": "calculator",
                              "description": calculator.description,
                              "parameters": body["tools"][0]["parameters"], "strict": True}]
    assert body["tools"][0]["parameters"]["additionalProperties"] is False


async def test_parallel_interleaved_calls_are_reassembled_by_item(fake_llm, provider):
    fake_llm.script_responses(tool_calls(
        call("calculator", {"expression": "1+1"}, id="call_a"),
        call("current_time", {"timezone": "Asia/Tokyo"}, id="call_b"),
        interleave=True,
    ))
    events = await collect(provider, ask(tools=[calculator, current_time]))
    assert sorted((c.index, c.id, c.name, c.arguments) for c in calls(events)) == [
        (0, "call_a", "calculator", '{"expression":"1+1"}'),
        (1, "call_b", "current_time", '{"timezone":"Asia/Tokyo"}'),
    ]
    for index, call_id in ((0, "call_a"), (1, "call_b")):
        parts = [d.arguments_delta for d in of_type(events, ToolCallDelta) if d.index == index]
        assert all(d.id == call_id for d in of_type(events, ToolCallDelta) if d.index == index)
        assert "".join(parts) == calls(events)[[c.index for c in calls(events)].index(index)].arguments


async def test_text_and_a_call_in_one_turn(fake_llm, provider):
    fake_llm.script_responses(reply("Let me check.", call("calculator", {"expression": "3*3"}, id="c9")))
    events = await collect(provider, ask(tools=[calculator]))
    assert text_of(events) == "Let me check."
    assert [c.id for c in calls(events)] == ["c9"] and finished(events).reason == "tool_calls"


async def test_malformed_arguments_are_passed_through_verbatim(fake_llm, provider):
    fake_llm.script_responses(tool_calls(call("calculator", '{"expression": "2+', id="bad")))
    events = await collect(provider, ask(tools=[calculator]))
    assert calls(events)[0].arguments == '{"expression": "2+'


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"), ("none", "none"), ("required", "required"),
    ("calculator", {"type": "function", "name": "calculator"}),
])
async def test_tool_choice_is_mapped_to_the_responses_shape(fake_llm, provider, choice, expected):
    fake_llm.script_responses(text("ok"))
    await collect(provider, ask(tools=[calculator], tool_choice=choice))
    assert fake_llm.last_body["tool_choice"] == expected


async def test_a_free_form_schema_is_sent_non_strict(fake_llm, provider):
    fake_llm.script_responses(text("ok"))
    await collect(provider, ask(tools=[calculator, tag_things]))
    strict = {t["name"]: t["strict"] for t in fake_llm.last_body["tools"]}
    assert strict == {"calculator": True, "tag_things": False}


async def test_history_with_calls_and_results_becomes_input_items(fake_llm, provider):
    fake_llm.script_responses(text("done"))
    history = [
        ChatMessage("user", "sum and time"),
        ChatMessage("assistant", "Working on it.", tool_calls=(
            ToolCallPart("c1", "calculator", '{"expression":"1+1"}'),
            ToolCallPart("c2", "current_time", "{}"))),
        ChatMessage("user", "(meanwhile)"),
        ChatMessage("tool", tool_results=(ToolResultPart("c2", "current_time", '"12:00"'),
                                          ToolResultPart("c1", "calculator", "2", is_error=False))),
    ]
    await collect(provider, ChatRequest(model="gpt-test", messages=history))
    assert fake_llm.last_body["input"] == [
        {"role": "user", "content": "sum and time"},
        {"role": "assistant", "content": "Working on it."},
        {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": '{"expression":"1+1"}'},
        {"type": "function_call", "call_id": "c2", "name": "current_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": '"12:00"'},
        {"type": "function_call_output", "call_id": "c1", "output": "2"},
        {"role": "user", "content": "(meanwhile)"},
    ]


# --- reasoning items -------------------------------------------------------------------------


async def test_reasoning_items_are_handed_back_as_state_and_replayed_in_place(fake_llm, provider):
    fake_llm.script_responses(
        tool_calls(call("calculator", {"expression": "6*7"}, id="c1"), reasoning="multiply them"),
        text("42"),
    )
    first = await collect(provider, ask("6 times 7?", tools=[calculator]))
    (state,) = of_type(first, ProviderState)
    assert state.provider == STATE_KEY
    (item,) = state.data["reasoning"]
    assert item["type"] == "reasoning" and item["encrypted_content"].endswith(b"multiply them".hex())
    assert first.index(state) == len(first) - 2  # just before Finished
    history = [ChatMessage("user", "6 times 7?"),
               ChatMessage("assistant",
                           tool_calls=(ToolCallPart("c1", "calculator", '{"expression":"6*7"}'),),
                           provider_state={STATE_KEY: dict(state.data)}),
               ChatMessage("tool", tool_results=(ToolResultPart("c1", "calculator", "42"),))]
    await collect(provider, ChatRequest(model="gpt-test", messages=history, tools=[calculator]))
    sent = fake_llm.last_body["input"]
    assert sent[1] == item  # the reasoning item, verbatim, before the call it led to
    assert sent[2]["type"] == "function_call" and sent[3]["type"] == "function_call_output"


async def test_a_turn_without_reasoning_hands_back_no_state(fake_llm, provider):
    fake_llm.script_responses(text("plain"))
    assert of_type(await collect(provider, ask()), ProviderState) == []


async def test_previous_response_id_chaining_sends_only_what_is_new(fake_llm, openai_client):
    provider = OpenAIResponsesProvider(client=openai_client, chain=True)
    fake_llm.script_responses(text("first"), text("second"))
    first = await collect(provider, ask("one"))
    assert fake_llm.last_body["store"] is True and "previous_response_id" not in fake_llm.last_body
    (state,) = of_type(first, ProviderState)
    history = [ChatMessage("user", "one"),
               ChatMessage("assistant", "first", provider_state={STATE_KEY: state.data}),
               ChatMessage("user", "two")]
    await collect(provider, ChatRequest(model="gpt-test", messages=history))
    assert fake_llm.last_body["previous_response_id"] == finished(first).message_id
    assert fake_llm.last_body["input"] == [{"role": "user", "content": "two"}]


# --- structured output, refusals, endings ---------------------------------------------------


async def test_structured_output_is_sent_as_text_format(fake_llm, provider):
    fake_llm.script_responses(text('{"a": 1}'))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    await collect(provider, ask(output=OutputFormat("thing", schema, strict=True)))
    assert fake_llm.last_body["text"] == {"format": {"type": "json_schema", "name": "thing", "schema": schema,
                                                     "strict": True}}


async def test_a_refusal_is_text_that_finishes_as_a_refusal(fake_llm, provider):
    fake_llm.script_responses(refusal("I can't help with that.", chunks=2))
    events = await collect(provider, ask())
    assert text_of(events) == "I can't help with that."
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("content_filter", "refusal")


async def test_an_incomplete_response_finishes_as_length(fake_llm, provider):
    fake_llm.script_responses(text("cut short").finishing("length"))
    done = finished(await collect(provider, ask()))
    assert (done.reason, done.raw_reason) == ("length", "max_output_tokens")


# --- errors ------------------------------------------------------------------------------


async def test_a_429_is_retried_by_the_sdk(fake_llm, provider):
    fake_llm.script_responses(error(429), text("after retry"))
    assert text_of(await collect(provider, ask())) == "after retry"
    assert len(fake_llm.requests) == 2


async def test_401_is_an_authentication_error_without_the_key(fake_llm, provider):
    fake_llm.script_responses(error(401, f"Incorrect API key provided: {API_KEY}."))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())
    assert caught.value.kind == "authentication" and caught.value.status == 401
    assert API_KEY not in caught.value.user_message and "OPENAI_API_KEY" in caught.value.user_message


@pytest.mark.parametrize("clean", [False, True])
async def test_a_stream_cut_before_completed_is_interrupted(fake_llm, provider, clean):
    fake_llm.script_responses(text("a b c d e f", chunks=6).cut(after=5, clean=clean))
    seen, error = await collect_until_error(provider, ask())
    assert error.kind == "stream_interrupted"
    assert text_of(seen) and not of_type(seen, ToolCallFinished)


async def test_an_error_event_inside_the_stream_is_a_server_error(fake_llm, provider):
    fake_llm.script_responses(text("a b c", chunks=3).failing_midstream(after=3, message="Overloaded"))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())
    assert caught.value.kind == "server_error" and "overloaded" in caught.value.user_message.lower()
