"""The Anthropic Messages adapter, driven through the real SDK against the fake server."""

from __future__ import annotations

import pytest
from anthropic import AsyncAnthropic

from assistant.providers.anthropic_messages import AnthropicProvider
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
from tests.assistant.providers import support
from tests.assistant.providers.support import (
    ANTHROPIC_KEY,
    calculator,
    calls,
    collect,
    collect_until_error,
    current_time,
    finished,
    of_type,
    text_of,
)
from tests.fakes.scripts import call, error, reply, text, tool_calls

API_KEY = ANTHROPIC_KEY


@pytest.fixture
def provider(anthropic_client):
    return AnthropicProvider(client=anthropic_client)


def ask(content: str = "Hi", **options) -> ChatRequest:
    return support.ask(content, model="claude-test", **options)


# --- streaming ------------------------------------------------------------------------------


async def test_text_deltas_concatenate_to_the_full_answer_with_usage(fake_llm, provider):
    fake_llm.script_anthropic(text("Hello there, world!", chunks=3).with_usage(25, 9))

    events = await collect(provider, ask())

    assert len(of_type(events, TextDelta)) == 3
    assert text_of(events) == "Hello there, world!"
    # input from message_start, output from message_delta
    assert of_type(events, Usage) == [Usage(input_tokens=25, output_tokens=9)]
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("stop", "end_turn")
    assert done.message_id == f"msg_fake_{fake_llm.last_request.seq}"


async def test_the_request_streams_with_the_system_prompt_outside_the_messages(fake_llm, provider):
    fake_llm.script_anthropic(text("ok"))

    await collect(provider, ask("What now?", system="Be brief.", max_tokens=77, temperature=0.5))

    request = fake_llm.last_request
    assert request.path == "/v1/messages"
    # SDK 2.x sends the key as a bearer token; older ones used x-api-key
    assert API_KEY in (request.headers.get("x-api-key"), request.headers.get("authorization", "")[7:])
    assert request.body == {
        "model": "claude-test", "max_tokens": 77, "system": "Be brief.",  # no sampling parameters
        "messages": [{"role": "user", "content": "What now?"}], "stream": True,
    }


async def test_payload_is_exactly_the_body_sent_minus_the_stream_flag(fake_llm, provider):
    fake_llm.script_anthropic(text("ok"))
    request = ask(tools=[calculator], system="S", parallel_tool_calls=False)

    await collect(provider, request)

    sent = dict(fake_llm.last_body)
    assert sent.pop("stream") is True
    assert sent == provider.payload(request)


async def test_a_single_tool_call_is_started_streamed_and_finished(fake_llm, provider):
    fake_llm.script_anthropic(tool_calls(call("calculator", {"expression": "2+2"}, id="toolu_1",
                                              fragments=4)))

    events = await collect(provider, ask("2+2?", tools=[calculator]))

    assert of_type(events, ToolCallStarted) == [ToolCallStarted(0, "toolu_1", "calculator")]
    fragments = [e.arguments_delta for e in of_type(events, ToolCallDelta)]
    assert len(fragments) == 4 and "".join(fragments) == '{"expression":"2+2"}'
    assert calls(events) == [ToolCallFinished(0, "toolu_1", "calculator", '{"expression":"2+2"}')]
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("tool_calls", "tool_use")


async def test_parallel_tool_calls_keep_their_own_ids_names_and_arguments(fake_llm, provider):
    fake_llm.script_anthropic(tool_calls(
        call("calculator", {"expression": "12*7"}, id="toolu_a", fragments=5),
        call("current_time", {"timezone": "Asia/Tokyo"}, id="toolu_b", fragments=2),
    ))

    events = await collect(provider, ask(tools=[calculator, current_time]))

    assert calls(events) == [
        ToolCallFinished(0, "toolu_a", "calculator", '{"expression":"12*7"}'),
        ToolCallFinished(1, "toolu_b", "current_time", '{"timezone":"Asia/Tokyo"}'),
    ]
    assert {d.id for d in of_type(events, ToolCallDelta) if d.index == 1} == {"toolu_b"}


async def test_text_then_tool_calls_numbers_calls_from_zero(fake_llm, provider):
    # The text is content block 0 and the calls blocks 1 and 2; call indexes still start at 0.
    fake_llm.script_anthropic(reply("Let me check.", call("current_time", {"timezone": "UTC"}, id="t1"),
                                    call("calculator", {"expression": "1+1"}, id="t2"), chunks=2))

    events = await collect(provider, ask(tools=[current_time, calculator]))

    assert text_of(events) == "Let me check."
    assert [(c.index, c.id) for c in calls(events)] == [(0, "t1"), (1, "t2")]
    assert finished(events).reason == "tool_calls"


async def test_thinking_blocks_are_not_shown_as_answer_text(fake_llm, provider):
    fake_llm.script_anthropic(text("The answer is 4.", reasoning="Two plus two, carry nothing..."))

    events = await collect(provider, ask())

    assert text_of(events) == "The answer is 4."


async def test_malformed_arguments_are_passed_through_verbatim(fake_llm, provider):
    fake_llm.script_anthropic(tool_calls(call("calculator", '{"expression": 2+', id="bad")))

    events = await collect(provider, ask(tools=[calculator]))

    assert calls(events) == [ToolCallFinished(0, "bad", "calculator", '{"expression": 2+')]


async def test_a_tool_call_without_input_deltas_finishes_with_an_empty_object(fake_llm, provider):
    fake_llm.script_anthropic(tool_calls(call("current_time", {}, id="t0", fragments=1)))

    events = await collect(provider, ask(tools=[current_time]))

    assert calls(events) == [ToolCallFinished(0, "t0", "current_time", "{}")]


# --- request shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ("calculator", None, {"type": "tool", "name": "calculator"}),
    ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ("calculator", False, {"type": "tool", "name": "calculator", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),  # the API takes no parallel flag with "none"
    ("auto", True, {"type": "auto"}),
])
async def test_tool_choice_and_parallel_flag_are_mapped(fake_llm, provider, choice, parallel, expected):
    fake_llm.script_anthropic(text("ok"))

    await collect(provider, ask(tools=[calculator], tool_choice=choice, parallel_tool_calls=parallel))

    assert fake_llm.last_body["tool_choice"] == expected


async def test_tools_are_sent_with_their_input_schema(fake_llm, provider):
    fake_llm.script_anthropic(text("ok"))

    await collect(provider, ask(tools=[calculator]))

    assert fake_llm.last_body["tools"] == [{
        "name": "calculator", "description": "Evaluate an arithmetic expression.",
        "input_schema": calculator.parameters,
    }]


async def test_history_puts_tool_results_first_in_one_merged_user_turn(fake_llm, provider):
    fake_llm.script_anthropic(text("Done."))
    history = [
        ChatMessage("user", "What is 12*7, and the time on Mars?"),
        ChatMessage("assistant", "Checking.", tool_calls=(
            ToolCallPart("toolu_1", "calculator", '{"expression":"12*7"}'),
            ToolCallPart("toolu_2", "current_time", '{"timezone":"Mars"}'),
        )),
        ChatMessage("tool", tool_results=(
            ToolResultPart("toolu_1", "calculator", "84"),
            ToolResultPart("toolu_2", "current_time", '{"error": {"message": "unknown zone"}}',
                           is_error=True),
        )),
        ChatMessage("user", "Thanks! And 2+2?"),
        ChatMessage("assistant", tool_calls=(ToolCallPart("toolu_3", "calculator", '{"expression": '),)),
        ChatMessage("tool", tool_results=(ToolResultPart("toolu_3", "calculator", '{"error": "bad json"}',
                                                         is_error=True),)),
    ]

    await collect(provider, ChatRequest(model="claude-test", messages=history, system="Sys",
                                        tools=[calculator, current_time]))

    body = fake_llm.last_body
    assert body["system"] == "Sys"
    assert body["messages"] == [
        {"role": "user", "content": "What is 12*7, and the time on Mars?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {"expression": "12*7"}},
            {"type": "tool_use", "id": "toolu_2", "name": "current_time", "input": {"timezone": "Mars"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "84"},
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": '{"error": {"message": "unknown zone"}}', "is_error": True},
            {"type": "text", "text": "Thanks! And 2+2?"},
        ]},
        # malformed arguments cannot be an object: replayed as {} (the result explains)
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_3", "name": "calculator", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_3", "content": '{"error": "bad json"}',
             "is_error": True},
        ]},
    ]


# --- failures -------------------------------------------------------------------------------


async def test_a_429_is_retried_by_the_sdk_and_yields_one_answer(fake_llm, provider):
    fake_llm.script_anthropic(error(429), text("after the wait", chunks=2))

    events = await collect(provider, ask())

    assert text_of(events) == "after the wait"
    assert len(of_type(events, Finished)) == 1
    assert len(fake_llm.requests) == 2


async def test_500_until_the_sdk_gives_up_is_a_server_error(fake_llm, provider):
    fake_llm.script_anthropic(error(500), error(500), error(500))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert len(fake_llm.requests) == 3
    assert (caught.value.kind, caught.value.status) == ("server_error", 500)
    assert caught.value.provider == "anthropic"
    assert caught.value.user_message == (
        "Anthropic had a server error (HTTP 500) after 3 attempts. Try again later."
    )


async def test_529_overloaded_is_a_server_error_that_says_so(fake_llm, provider):
    fake_llm.script_anthropic(error(529), error(529), error(529))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "server_error"
    assert caught.value.user_message == (
        "Anthropic is overloaded (HTTP 529) after 3 attempts. Try again in a moment."
    )


async def test_401_is_an_authentication_error_that_does_not_leak_the_key(fake_llm, provider):
    fake_llm.script_anthropic(error(401, f"invalid x-api-key {API_KEY}"))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "authentication"
    assert caught.value.user_message == (
        "Anthropic rejected the API key (HTTP 401). "
        "Check the key in the ANTHROPIC_API_KEY environment variable."
    )
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize("clean", [False, True], ids=["connection-dropped", "body-ended-early"])
async def test_a_stream_cut_midway_is_interrupted_and_never_finishes(fake_llm, provider, clean):
    # message_start, content_block_start, ping, then two of four text deltas
    fake_llm.script_anthropic(text("one two three four", chunks=4).cut(after=5, clean=clean))

    seen, error = await collect_until_error(provider, ask())

    assert error.kind == "stream_interrupted"
    assert text_of(seen) == "one two"
    assert not of_type(seen, Finished)


async def test_an_error_event_inside_the_stream_is_a_server_error(fake_llm, provider):
    fake_llm.script_anthropic(text("a b c", chunks=3).failing_midstream(4))

    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())

    assert caught.value.kind == "server_error"
    assert caught.value.user_message == (
        "Anthropic is overloaded and stopped streaming the answer. Try again in a moment."
    )


async def test_max_tokens_finishes_with_length(fake_llm, provider):
    fake_llm.script_anthropic(text("cut short").finishing("max_tokens"))

    events = await collect(provider, ask())

    assert (finished(events).reason, finished(events).raw_reason) == ("length", "max_tokens")


def test_tool_results_come_first_even_when_the_user_spoke_before_they_arrived():
    provider = AnthropicProvider(client=AsyncAnthropic(api_key=API_KEY, base_url="http://127.0.0.1:9"))
    history = [
        ChatMessage("user", "Delete note 3"),
        ChatMessage("assistant", tool_calls=(ToolCallPart("toolu_9", "delete_note", '{"note_id": 3}'),)),
        ChatMessage("user", "and then tell me a joke"),  # sent while the call awaited approval
        ChatMessage("tool", tool_results=(ToolResultPart("toolu_9", "delete_note", '{"deleted": true}'),)),
    ]

    turns = provider.messages(ChatRequest(model="claude-test", messages=history))

    assert turns[-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_9", "content": '{"deleted": true}'},
        {"type": "text", "text": "and then tell me a joke"},
    ]}
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
