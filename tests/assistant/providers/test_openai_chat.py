"""The OpenAI Chat Completions adapter, driven through the real SDK against the fake server."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    Usage,
)
from assistant.providers.openai_chat import OpenAIChatProvider
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
from tests.fakes.scripts import call, error, reply, text, tool_calls

API_KEY = OPENAI_KEY


@pytest.fixture
def provider(openai_client):
    return OpenAIChatProvider(client=openai_client)


# --- streaming ------------------------------------------------------------------------------


async def test_text_deltas_concatenate_to_the_full_answer_with_usage(fake_llm, provider):
    fake_llm.script_openai(text("Hello there, world!", chunks=3).with_usage(11, 3))

    events = await collect(provider, ask())

    deltas = of_type(events, TextDelta)
    assert len(deltas) == 3
    assert text_of(events) == "Hello there, world!"
    assert of_type(events, Usage) == [Usage(input_tokens=11, output_tokens=3)]
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("stop", "stop")
    assert done.message_id == f"chatcmpl-fake-{fake_llm.last_request.seq}"


async def test_the_request_streams_with_usage_and_puts_the_system_prompt_first(fake_llm, provider):
    fake_llm.script_openai(text("ok"))

    await collect(provider, ask("What now?", system="Be brief.", max_tokens=77, temperature=0.2))

    body = fake_llm.last_body
    assert fake_llm.last_request.path == "/v1/chat/completions"
    assert fake_llm.last_request.headers["authorization"] == f"Bearer {API_KEY}"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-test"
    assert body["max_completion_tokens"] == 77
    assert body["temperature"] == 0.2
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What now?"},
    ]
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body


async def test_payload_is_exactly_the_body_sent_minus_the_stream_flags(fake_llm, provider):
    fake_llm.script_openai(text("ok"))
    request = ask(tools=[calculator], system="S", parallel_tool_calls=False)

    await collect(provider, request)

    sent = dict(fake_llm.last_body)
    assert sent.pop("stream") is True
    assert sent.pop("stream_options") == {"include_usage": True}
    assert sent == provider.payload(request)


async def test_a_single_tool_call_is_started_streamed_in_fragments_and_finished(fake_llm, provider):
    fake_llm.script_openai(tool_calls(call("calculator", {"expression": "2+2"}, id="call_1", fragments=4)))

    events = await collect(provider, ask("2+2?", tools=[calculator]))

    assert of_type(events, ToolCallStarted) == [ToolCallStarted(0, "call_1", "calculator")]
    fragments = [e.arguments_delta for e in of_type(events, ToolCallDelta)]
    assert len(fragments) == 4
    assert "".join(fragments) == '{"expression":"2+2"}'
    assert calls(events) == [ToolCallFinished(0, "call_1", "calculator", '{"expression":"2+2"}')]
    assert finished(events).reason == "tool_calls"
    assert text_of(events) == ""


async def test_parallel_tool_calls_are_reassembled_per_index(fake_llm, provider):
    fake_llm.script_openai(tool_calls(
        call("calculator", {"expression": "12*7"}, id="call_a", fragments=5),
        call("current_time", {"timezone": "Asia/Tokyo"}, id="call_b", fragments=3),
        call("calculator", {"expression": "1/3"}, id="call_c", fragments=2),
        interleave=True,  # fragments of the three calls arrive mixed together
    ))

    events = await collect(provider, ask(tools=[calculator, current_time]))

    assert [(e.index, e.id, e.name) for e in of_type(events, ToolCallStarted)] == [
        (0, "call_a", "calculator"), (1, "call_b", "current_time"), (2, "call_c", "calculator"),
    ]
    by_index: dict[int, str] = {}
    for delta in of_type(events, ToolCallDelta):
        by_index[delta.index] = by_index.get(delta.index, "") + delta.arguments_delta
    assert by_index == {0: '{"expression":"12*7"}', 1: '{"timezone":"Asia/Tokyo"}', 2: '{"expression":"1/3"}'}
    assert calls(events) == [
        ToolCallFinished(0, "call_a", "calculator", '{"expression":"12*7"}'),
        ToolCallFinished(1, "call_b", "current_time", '{"timezone":"Asia/Tokyo"}'),
        ToolCallFinished(2, "call_c", "calculator", '{"expression":"1/3"}'),
    ]
    for call_index in range(3):  # each call starts before its first fragment
        kinds = [type(e) for e in events if getattr(e, "index", None) == call_index]
        assert kinds[0] is ToolCallStarted and kinds[-1] is ToolCallFinished


async def test_text_and_a_tool_call_in_one_turn(fake_llm, provider):
    fake_llm.script_openai(reply("Let me check.", call("current_time", {"timezone": "UTC"}, id="c1"),
                                 chunks=3))

    events = await collect(provider, ask(tools=[current_time]))

    assert text_of(events) == "Let me check."
    assert calls(events) == [ToolCallFinished(0, "c1", "current_time", '{"timezone":"UTC"}')]
    assert finished(events).reason == "tool_calls"
    assert events.index(of_type(events, TextDelta)[-1]) < events.index(of_type(events, ToolCallStarted)[0])


async def test_malformed_arguments_are_passed_through_verbatim(fake_llm, provider):
    fake_llm.script_openai(tool_calls(call("calculator", '{"expression": "2+', id="bad")))

    events = await collect(provider, ask(tools=[calculator]))

    assert calls(events) == [ToolCallFinished(0, "bad", "calculator", '{"expression": "2+')]
    assert finished(events).reason == "tool_calls"


# --- request shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"),
    ("none", "none"),
    ("required", "required"),
    ("calculator", {"type": "function", "function": {"name": "calculator"}}),
])
async def test_tool_choice_is_mapped_to_the_wire_format(fake_llm, provider, choice, expected):
    fake_llm.script_openai(text("ok"))

    await collect(provider, ask(tools=[calculator], tool_choice=choice))

    assert fake_llm.last_body["tool_choice"] == expected


@pytest.mark.parametrize("parallel", [True, False])
async def test_parallel_tool_calls_is_sent_when_set(fake_llm, provider, parallel):
    fake_llm.script_openai(text("ok"))

    await collect(provider, ask(tools=[calculator], parallel_tool_calls=parallel))

    assert fake_llm.last_body["parallel_tool_calls"] is parallel


async def test_parallel_tool_calls_is_left_out_when_unset_or_without_tools(fake_llm, provider):
    fake_llm.script_openai(text("ok"), text("ok"))

    await collect(provider, ask(tools=[calculator]))
    await collect(provider, ask(parallel_tool_calls=False))

    assert "parallel_tool_calls" not in fake_llm.requests[0].body
    assert "parallel_tool_calls" not in fake_llm.requests[1].body


async def test_tool_schemas_are_strict_when_possible_and_not_when_turned_off(fake_llm, provider):
    fake_llm.script_openai(text("ok"), text("ok"))

    await collect(provider, ask(tools=[calculator, tag_things]))
    await collect(provider, ask(tools=[calculator], strict=False))

    auto, off = (r.body["tools"] for r in fake_llm.requests)
    assert auto[0]["type"] == "function"
    assert auto[0]["function"]["strict"] is True
    assert auto[0]["function"]["parameters"]["additionalProperties"] is False
    assert "strict" not in auto[1]["function"]  # a free-form object cannot be strict
    assert "strict" not in off[0]["function"]


async def test_history_with_tool_calls_and_results_is_sent_as_the_api_requires(fake_llm, provider):
    fake_llm.script_openai(text("Done."))
    history = [
        ChatMessage("user", "What is 12*7, and the time in Tokyo?"),
        ChatMessage("assistant", "Checking.", tool_calls=(
            ToolCallPart("call_1", "calculator", '{"expression":"12*7"}'),
            ToolCallPart("call_2", "current_time", '{"timezone":"Mars"}'),
        )),
        ChatMessage("tool", tool_results=(
            ToolResultPart("call_1", "calculator", "84"),
            ToolResultPart("call_2", "current_time",
                           '{"error": {"type": "validation_error", "message": "unknown zone"}}',
                           is_error=True),
        )),
        ChatMessage("assistant", tool_calls=(ToolCallPart("call_3", "current_time", "{}"),)),
        ChatMessage("tool", tool_results=(ToolResultPart("call_3", "current_time", '"09:00"'),)),
    ]

    await collect(provider, ChatRequest(model="gpt-test", messages=history, system="Sys",
                                        tools=[calculator, current_time]))

    assert fake_llm.last_body["messages"] == [
        {"role": "system", "content": "Sys"},
        {"role": "user", "content": "What is 12*7, and the time in Tokyo?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "calculator", "arguments": '{"expression":"12*7"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "current_time", "arguments": '{"timezone":"Mars"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "84"},
        {"role": "tool", "tool_call_id": "call_2",
         "content": '{"error": {"type": "validation_error", "message": "unknown zone"}}'},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "current_time", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_3", "content": '"09:00"'},
    ]


# --- failures -------------------------------------------------------------------------------


async def test_a_429_is_retried_by_the_sdk_and_yields_one_answer(fake_llm, provider):
    fake_llm.script_openai(error(429), text("after the wait", chunks=2))

    events = await collect(provider, ask())

    assert text_of(events) == "after the wait"
    assert finished(events).reason == "stop"
    assert len(fake_llm.requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in fake_llm.requests] == ["0", "1"]


async def test_a_429_that_persists_is_rate_limited_with_a_clear_message(fake_llm, provider):
    fake_llm.script_openai(error(429), error(429), error(429))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "rate_limited"
    assert caught.value.status == 429
    assert caught.value.user_message == (
        "OpenAI is rate-limiting requests (HTTP 429) after 3 attempts. Try again in a moment."
    )


async def test_500_until_the_sdk_gives_up_is_a_server_error(fake_llm, provider):
    fake_llm.script_openai(error(500), error(500), error(500))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert len(fake_llm.requests) == 3  # the first attempt and max_retries=2 retries
    assert (caught.value.kind, caught.value.status, caught.value.provider) == ("server_error", 500, "openai")
    assert caught.value.user_message == (
        "OpenAI had a server error (HTTP 500) after 3 attempts. Try again later."
    )


async def test_401_is_an_authentication_error_that_does_not_leak_the_key(fake_llm, provider):
    fake_llm.script_openai(error(401, f"Incorrect API key provided: {API_KEY}. Find your key at ..."))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert len(fake_llm.requests) == 1  # a 401 is not retried
    assert caught.value.kind == "authentication"
    assert caught.value.status == 401
    assert "OpenAI rejected the API key (HTTP 401)" in caught.value.user_message
    assert "OPENAI_API_KEY" in caught.value.user_message
    assert API_KEY not in str(caught.value) and API_KEY[:12] not in caught.value.user_message


async def test_400_is_a_bad_request_that_quotes_the_provider_without_secrets(fake_llm, provider):
    fake_llm.script_openai(error(400, f"This model's maximum context length is 8192 tokens (key {API_KEY})"))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "bad_request"
    assert caught.value.user_message.startswith(
        "OpenAI rejected the request (HTTP 400): This model's maximum context length is 8192 tokens"
    )
    assert API_KEY not in caught.value.user_message


@pytest.mark.parametrize("clean", [False, True], ids=["connection-dropped", "body-ended-early"])
async def test_a_stream_cut_midway_is_interrupted_and_never_finishes(fake_llm, provider, clean):
    fake_llm.script_openai(text("one two three four five", chunks=5).cut(after=3, clean=clean))

    seen, error = await collect_until_error(provider, ask())

    assert error.kind == "stream_interrupted"
    assert text_of(seen) == "one two"  # what arrived before the cut was streamed
    assert not of_type(seen, Finished)
    assert "interrupted" in error.user_message


async def test_a_stream_cut_during_tool_calls_finishes_no_call(fake_llm, provider):
    fake_llm.script_openai(tool_calls(call("calculator", {"expression": "2+2"}, fragments=4)).cut(after=3))

    seen, error = await collect_until_error(provider, ask(tools=[calculator]))

    assert error.kind == "stream_interrupted"
    assert of_type(seen, ToolCallStarted)
    assert not of_type(seen, ToolCallFinished)


async def test_an_error_event_inside_the_stream_is_a_server_error(fake_llm, provider):
    fake_llm.script_openai(text("a b c", chunks=3).failing_midstream(2, "The server is overloaded."))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "server_error"
    assert "overloaded" in caught.value.user_message


def test_tool_results_are_moved_up_to_follow_their_calls():
    provider = OpenAIChatProvider(client=AsyncOpenAI(api_key=API_KEY, base_url="http://127.0.0.1:9"))
    history = [
        ChatMessage("user", "Delete note 3"),
        ChatMessage("assistant", tool_calls=(ToolCallPart("call_9", "delete_note", '{"note_id": 3}'),)),
        ChatMessage("user", "and then tell me a joke"),  # sent while the call awaited approval
        ChatMessage("tool", tool_results=(ToolResultPart("call_9", "delete_note", '{"deleted": true}'),)),
    ]

    messages = provider.messages(ChatRequest(model="gpt-test", messages=history))

    assert [(m["role"], m.get("tool_call_id") or m.get("content")) for m in messages] == [
        ("user", "Delete note 3"), ("assistant", None), ("tool", "call_9"),
        ("user", "and then tell me a joke"),
    ]
