"""The offline demo provider: rules that propose tool calls and answer their results."""

from __future__ import annotations

import json
import socket

import pytest

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    TextDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from assistant.providers.demo import DemoProvider
from tests.assistant.providers.support import (
    ALL_TOOLS,
    calculator,
    calls,
    collect,
    finished,
    of_type,
    text_of,
)

demo = DemoProvider()


def ask(content: str, tools=ALL_TOOLS, **options) -> ChatRequest:
    return ChatRequest(model="demo", messages=[ChatMessage("user", content)], tools=list(tools), **options)


async def proposed(content: str, tools=ALL_TOOLS) -> tuple[str, dict] | None:
    events = await collect(demo, ask(content, tools))
    found = calls(events)
    if not found:
        return None
    assert len(found) == 1
    return found[0].name, json.loads(found[0].arguments)


@pytest.mark.parametrize(("message", "name", "arguments"), [
    ("what is 12*7", "calculator", {"expression": "12*7"}),
    ("What's 12 * 7?", "calculator", {"expression": "12 * 7"}),
    ("calculate (3 + 4) / 2", "calculator", {"expression": "(3 + 4) / 2"}),
    ("compute 3x4", "calculator", {"expression": "3*4"}),
    ("2+2", "calculator", {"expression": "2+2"}),
    ("what time is it in Tokyo", "current_time", {"timezone": "Asia/Tokyo"}),
    ("What's the time in New York?", "current_time", {"timezone": "America/New_York"}),
    ("current time in london", "current_time", {"timezone": "Europe/London"}),
    ("time in Europe/Madrid", "current_time", {"timezone": "Europe/Madrid"}),  # passed through
    ("what time is it?", "current_time", {"timezone": "UTC"}),
    ("note: buy milk", "create_note", {"text": "buy milk"}),
    ("Remember that the meeting moved to 3pm", "create_note", {"text": "the meeting moved to 3pm"}),
    ("remember to call mom", "create_note", {"text": "call mom"}),
    ("find my notes about milk", "search_notes", {"query": "milk"}),
    ("Search notes for meeting", "search_notes", {"query": "meeting"}),
    ("search my notes for groceries", "search_notes", {"query": "groceries"}),
    ("delete note 3", "delete_note", {"note_id": 3}),
    ("Remove note #12", "delete_note", {"note_id": 12}),
    ("email bob@example.com saying hi", "send_email",
     {"to": ["bob@example.com"], "subject": "Hi", "body": "hi"}),
    ("send an email to bob@example.com, ann@example.org saying Lunch at noon. Bring snacks!", "send_email",
     {"to": ["bob@example.com", "ann@example.org"], "subject": "Lunch at noon",
      "body": "Lunch at noon. Bring snacks!"}),
])
async def test_each_phrasing_proposes_the_right_tool_call(message, name, arguments):
    assert await proposed(message) == (name, arguments)


async def test_a_tool_call_turn_streams_started_delta_finished_usage_and_finish():
    events = await collect(demo, ask("what is 12*7"))

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ToolCallStarted", "ToolCallDelta", "ToolCallFinished", "Usage", "Finished"]
    assert finished(events).reason == "tool_calls"


async def test_call_ids_are_deterministic_and_differ_by_position():
    first = calls(await collect(demo, ask("what is 12*7")))[0].id
    again = calls(await collect(demo, ask("what is 12*7")))[0].id
    later = ChatRequest(model="demo", tools=[calculator], messages=[
        ChatMessage("user", "hello"), ChatMessage("assistant", "hi"), ChatMessage("user", "what is 12*7")])
    moved = calls(await collect(demo, later))[0].id

    assert first == again
    assert moved != first


async def test_slash_call_passes_valid_json_arguments_verbatim():
    events = await collect(demo, ask('/call calculator {"expression": "1 + 1"}'))

    assert [(c.name, c.arguments) for c in calls(events)] == [("calculator", '{"expression": "1 + 1"}')]


async def test_slash_call_passes_malformed_json_through_for_the_pipeline_to_reject():
    events = await collect(demo, ask('/call calculator {"expression": 1 +'))

    assert [(c.name, c.arguments) for c in calls(events)] == [("calculator", '{"expression": 1 +')]


async def test_a_tool_the_user_may_not_use_is_never_proposed():
    tools = [t for t in ALL_TOOLS if t.name != "send_email"]

    for message in ("email bob@example.com saying hi", '/call send_email {"to": ["a@b.c"]}'):
        events = await collect(demo, ask(message, tools))
        assert calls(events) == []
        assert "`send_email` tool isn't available to you here, so I can't do that" in text_of(events)
        assert finished(events).reason == "stop"


async def test_tool_choice_none_proposes_nothing():
    events = await collect(demo, ask("what is 2+2", tool_choice="none"))

    assert calls(events) == []
    assert "tools are switched off" in text_of(events)


async def test_unrecognised_text_explains_it_is_not_a_language_model_and_lists_the_tools():
    events = await collect(demo, ask("tell me a joke", tools=[calculator, *ALL_TOOLS[1:3]]))

    answer = text_of(events)
    assert "not a language model" in answer
    assert "`calculator`: try \"what is 12*7\"" in answer
    assert "`current_time`" in answer and "`create_note`" in answer
    assert "`send_email`" not in answer  # only the tools this user has
    assert "/call TOOL_NAME" in answer
    assert calls(events) == []


async def test_text_streams_word_by_word_with_usage_counting_words():
    events = await collect(demo, ask("tell me a joke", tools=[]))

    deltas = of_type(events, TextDelta)
    answer = text_of(events)
    assert len(deltas) == len(answer.split())
    assert all(len(d.text.split()) == 1 for d in deltas)
    assert of_type(events, Usage) == [Usage(input_tokens=4, output_tokens=len(deltas))]
    assert "No tools are available to you" in answer


def results_turn(name: str, arguments: str, content: str, *, is_error: bool = False) -> ChatRequest:
    return ChatRequest(model="demo", tools=list(ALL_TOOLS), messages=[
        ChatMessage("user", "..."),
        ChatMessage("assistant", tool_calls=(ToolCallPart("c1", name, arguments),)),
        ChatMessage("tool", tool_results=(ToolResultPart("c1", name, content, is_error),)),
    ])


@pytest.mark.parametrize(("name", "arguments", "content", "expected"), [
    ("calculator", '{"expression": "12*7"}', "84", "12*7 = 84"),
    ("calculator", '{"expression": "12*7"}', '{"result": 84}', "12*7 = 84"),
    ("current_time", '{"timezone": "Asia/Tokyo"}', '{"timezone": "Asia/Tokyo", "time": "21:04"}',
     "It is 21:04 in Asia/Tokyo."),
    ("create_note", '{"text": "buy milk"}', '{"id": 5, "text": "buy milk"}', "Saved note 5."),
    ("search_notes", '{"query": "milk"}', '[{"id": 5, "text": "buy milk"}]',
     "I found 1 note about 'milk': #5 buy milk."),
    ("search_notes", '{"query": "cake"}', "[]", "I found no notes about 'cake'."),
    ("delete_note", '{"note_id": 3}', '{"deleted": true}', "Deleted note 3."),
    ("send_email", '{"to": ["bob@example.com"], "subject": "Hi", "body": "hi"}', '{"sent": true}',
     "Sent the email to bob@example.com."),
])
async def test_a_result_turn_gets_a_reply_that_uses_the_result(name, arguments, content, expected):
    events = await collect(demo, results_turn(name, arguments, content))

    assert text_of(events) == expected
    assert calls(events) == []
    assert finished(events).reason == "stop"


@pytest.mark.parametrize(("name", "asked", "ran", "expected"), [
    ("send_email", '{"to": ["sam@example.com"], "subject": "Hi", "body": "hi"}',
     '{"sent": true, "to": ["kim@example.com"], "subject": "Hi"}', "Sent the email to kim@example.com."),
    ("delete_note", '{"note_id": 3}', '{"deleted": true, "id": 4, "text": "old"}', "Deleted note 4."),
    ("calculator", '{"expression": "12*7"}', '{"expression": "12*8", "result": 96}', "12*8 = 96"),
])
async def test_after_an_approvers_edit_the_reply_names_what_ran_not_what_was_asked(
        name, asked, ran, expected):
    assert text_of(await collect(demo, results_turn(name, asked, ran))) == expected


async def test_an_error_result_is_explained():
    content = json.dumps({"error": {"type": "validation_error", "message": "unknown time zone 'Mars'",
                                    "hint": "Use an IANA name such as Europe/Paris."}})

    events = await collect(demo, results_turn("current_time", '{"timezone": "Mars"}', content, is_error=True))

    assert text_of(events) == (
        "The `current_time` tool failed (validation_error): unknown time zone 'Mars'. "
        "Hint: Use an IANA name such as Europe/Paris."
    )


async def test_a_denied_call_is_explained():
    content = json.dumps({"error": {"type": "denied", "message": "Denied by alice"}})

    events = await collect(demo, results_turn("send_email", '{"to": ["x@y.z"]}', content, is_error=True))

    assert text_of(events) == "The `send_email` call was denied, so nothing was done. (Denied by alice)"


async def test_it_works_with_no_network_at_all(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the demo provider must not open sockets")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    events = await collect(DemoProvider(), ask("what is 12*7"))

    assert calls(events)[0].name == "calculator"


# --- with the real built-in tools, through the real pipeline ----------------------------------


async def run_demo_turns(message: str, tool) -> str:
    """User message -> demo's call -> the real pipeline -> demo's reply to the result."""
    from tools.context import ToolContext
    from tools.pipeline import Pipeline, ToolCallRequest
    from tools.registry import Registry

    registry = Registry()
    registry.register(tool)
    pipeline = Pipeline(registry, gate=None, access=None, record=False)
    first = await collect(demo, ask(message, tools=[tool]))
    (proposal,) = calls(first)
    request = ToolCallRequest(proposal.name, proposal.arguments, proposal.id)
    result = await pipeline.call(request, ToolContext())
    history = [
        ChatMessage("user", message),
        ChatMessage("assistant", tool_calls=(ToolCallPart(proposal.id, proposal.name, proposal.arguments),)),
        ChatMessage("tool", tool_results=(
            ToolResultPart(proposal.id, proposal.name, result.content(), is_error=not result.ok),)),
    ]
    return text_of(await collect(demo, ChatRequest(model="demo", messages=history, tools=[tool])))


async def test_the_demo_round_trips_through_the_real_calculator():
    from tools.builtin.calculator import calculator as real_calculator

    assert await run_demo_turns("what is 12*7", real_calculator) == "12*7 = 84"
    assert await run_demo_turns("calculate 2^10", real_calculator) == "2**10 = 1024"


async def test_the_demo_round_trips_through_the_real_clock():
    from tools.builtin.clock import current_time as real_clock

    reply = await run_demo_turns("what time is it in Tokyo?", real_clock)
    assert reply.startswith("It is ") and reply.endswith(" in Asia/Tokyo.")

    failed = await run_demo_turns("what time is it on Mars", real_clock)
    assert failed.startswith("The `current_time` tool failed (validation_error):")
