"""The run loop, driven through the real OpenAI and Anthropic SDKs against the fake server."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from assistant.models import Message, Run, RunToolCall
from assistant.providers.base import ChatRequest
from assistant.providers.profiles import build_provider, get_profile
from assistant.runs.engine import Engine
from assistant.runs.history import conversation_history
from tests.assistant.runs.engine_helpers import (
    HISTORY_KEY,
    Calls,
    Recorder,
    approve_high_risk,
    make_engine,
    new_conversation,
    script_for,
    use_fake_profiles,
)
from tests.fakes.scripts import call, error, text, tool_calls
from tools.models import ToolCall
from tools.pipeline import Pipeline

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


async def messages_of(conversation):
    return [m async for m in Message.objects.filter(conversation=conversation).order_by("position")]


def sent_messages(profile_name: str, history, registry_tools):
    """The ``messages`` the adapter builds for this history: what must have been sent."""
    provider = build_provider(get_profile(profile_name))
    request = ChatRequest(model="m", messages=history, system=django_settings.ASSISTANT_SYSTEM_PROMPT,
                          tools=registry_tools)
    return provider.payload(request)[HISTORY_KEY[profile_name]]


async def test_a_plain_answer_completes_the_run_and_is_stored(fake, user, calls):
    fake.script_openai(text("Hello there, Alice.", chunks=4))
    events = Recorder()
    convo = await new_conversation(user)
    run = await make_engine(calls, emit=events).send(convo, user, "hi")
    assert run.status == Run.Status.COMPLETED
    stored = await messages_of(convo)
    assert [(m.role, m.content) for m in stored] == [("user", "hi"), ("assistant", "Hello there, Alice.")]
    assert "".join(e["delta"] for e in events.of("assistant.delta")) == "Hello there, Alice."
    assert events.types()[0] == "message.created" and events.types()[-1] == "run.finished"
    assert stored[1].output_tokens > 0 and run.output_tokens == stored[1].output_tokens
    await convo.arefresh_from_db()
    assert convo.title == "hi"


async def test_a_tool_round_sends_the_result_back_with_the_exact_call_id(fake, user, calls):
    fake.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="call_abc")), text("2 + 3 = 5"))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "add 2 and 3")
    assert run.status == Run.Status.COMPLETED and run.steps == 2
    second = fake.bodies()[1]["messages"]
    tool_message = [m for m in second if m["role"] == "tool"]
    assert tool_message == [{"role": "tool", "tool_call_id": "call_abc", "content": "5"}]
    record = await ToolCall.objects.aget(call_id="call_abc")
    assert record.status == ToolCall.Status.SUCCEEDED and record.result == 5
    assert await RunToolCall.objects.filter(run=run, call_id="call_abc", tool_call=record).aexists()
    assert calls.counts == {"add": 1}


async def test_parallel_calls_run_and_each_result_keeps_its_id(fake, user, calls):
    fake.script_openai(
        tool_calls(call("add", {"a": 1, "b": 1}, id="c1"), call("add", {"a": 2, "b": 2}, id="c2")),
        text("2 and 4"),
    )
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "two sums")
    assert run.status == Run.Status.COMPLETED
    results = {m["tool_call_id"]: m["content"] for m in fake.bodies()[1]["messages"] if m["role"] == "tool"}
    assert results == {"c1": "2", "c2": "4"}
    assert calls.counts == {"add": 2}


async def test_sequential_steps_continue_until_the_model_answers(fake, user, calls):
    fake.script_openai(
        tool_calls(call("add", {"a": 1, "b": 2}, id="s1")),
        tool_calls(call("add", {"a": 3, "b": 4}, id="s2")),
        text("done"),
    )
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "chain")
    assert run.status == Run.Status.COMPLETED and run.steps == 3
    roles = [m.role for m in await messages_of(convo)]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


async def test_malformed_arguments_go_back_to_the_model_as_invalid_json(fake, user, calls):
    fake.script_openai(tool_calls(call("add", '{"a": 1, "b":', id="bad")), text("sorry"))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "add")
    assert run.status == Run.Status.COMPLETED
    sent = next(m for m in fake.bodies()[1]["messages"] if m["role"] == "tool")
    assert json.loads(sent["content"])["error"]["type"] == "invalid_json"
    assistant_turn = next(m for m in fake.bodies()[1]["messages"] if m["role"] == "assistant")
    assert assistant_turn["tool_calls"][0]["function"]["arguments"] == '{"a": 1, "b":'
    assert calls.counts == {}


async def test_an_unknown_tool_is_reported_to_the_model(fake, user, calls):
    fake.script_openai(tool_calls(call("launch_rockets", {}, id="u1")), text("I cannot do that"))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "launch")
    assert run.status == Run.Status.COMPLETED
    error_body = json.loads(next(m for m in fake.bodies()[1]["messages"] if m["role"] == "tool")["content"])
    assert error_body["error"]["type"] == "unknown_tool"
    assert "add" in error_body["error"]["hint"]


async def test_a_validation_error_then_a_corrected_call_succeeds(fake, user, calls):
    fake.script_openai(
        tool_calls(call("add", {"a": "1", "b": 2}, id="v1")),
        tool_calls(call("add", {"a": 1, "b": 2}, id="v2")),
        text("3"),
    )
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "add")
    assert run.status == Run.Status.COMPLETED
    first = json.loads(next(m for m in fake.bodies()[1]["messages"] if m["role"] == "tool")["content"])
    assert first["error"]["type"] == "validation_error"
    assert first["error"]["details"][0]["path"] == "a"
    assert calls.counts == {"add": 1}


async def test_repeated_invalid_calls_stop_the_run_with_a_clear_error(fake, user, calls, settings):
    settings.ASSISTANT_VALIDATION_RETRIES = 1
    fake.script_openai(
        tool_calls(call("add", {"a": "x"}, id="r1")),
        tool_calls(call("add", {"a": "y"}, id="r2")),
    )
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "add")
    assert run.status == Run.Status.FAILED and run.error_code == "invalid_tool_calls"
    assert "kept sending invalid calls to add" in run.error


async def test_a_429_is_retried_and_the_run_completes(fake, user, calls):
    fake.script_openai(error(429), text("after the retry"))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "hi")
    assert run.status == Run.Status.COMPLETED
    assert len(fake.requests) == 2
    assert [m.content for m in await messages_of(convo)] == ["hi", "after the retry"]


async def test_a_500_until_the_retries_run_out_fails_the_run_and_keeps_the_conversation_valid(
        fake, user, calls, settings):
    settings.LLM_MAX_RETRIES = 1
    fake.script_openai(error(500), error(500), text("next time works"))
    events = Recorder()
    convo = await new_conversation(user)
    run = await make_engine(calls, emit=events).send(convo, user, "hi")
    assert run.status == Run.Status.FAILED and run.error_code == "provider_server_error"
    assert events.of("error")[0]["message"] == run.error and "500" in run.error
    assert [m.role for m in await messages_of(convo)] == ["user"]
    again = await make_engine(calls).send(convo, user, "try again")
    assert again.status == Run.Status.COMPLETED


async def test_a_stream_cut_midway_with_no_retries_left_keeps_the_partial_text_marked_interrupted(
        fake, user, calls, settings):
    settings.LLM_MAX_RETRIES = 0
    fake.script_openai(text("one two three four five six", chunks=6).cut(after=3), text("fine now"))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "talk")
    assert run.status == Run.Status.FAILED and run.error_code == "provider_stream_interrupted"
    partial = (await messages_of(convo))[-1]
    assert partial.role == "assistant" and partial.status == Message.Status.INTERRUPTED
    assert partial.content and "six" not in partial.content
    again = await make_engine(calls).send(convo, user, "go on")
    assert again.status == Run.Status.COMPLETED
    assert {"role": "assistant", "content": partial.content} in fake.bodies()[-1]["messages"]


async def test_max_steps_ends_the_run_with_a_clear_message(fake, user, calls, settings):
    settings.ASSISTANT_MAX_STEPS = 2
    fake.script_openai(tool_calls(call("add", {"a": 1, "b": 1}, id="m1")),
                       tool_calls(call("add", {"a": 2, "b": 2}, id="m2")))
    convo = await new_conversation(user)
    run = await make_engine(calls).send(convo, user, "loop")
    assert run.status == Run.Status.FAILED and run.error_code == "max_steps"
    assert "Stopped after 2 model turns" in run.error
    assert len(fake.requests) == 2


async def stopped_while_streaming(engine, convo, user, streaming: asyncio.Event) -> Run:
    """Send a message, press Stop once ``streaming`` is set, and return the run when it ends."""
    task = asyncio.create_task(engine.send(convo, user, "slow"))
    await streaming.wait()
    await engine.cancel((await Run.objects.aget(conversation=convo)).pk)
    return await task


async def test_cancelling_a_streaming_run_stops_it_and_marks_the_text(fake, user, calls):
    fake.script_openai(text("a b c d e f g h i j", chunks=10).delayed(between=0.2))
    streaming = asyncio.Event()

    async def emit(event):
        events.events.append(event)
        if event["type"] == "assistant.delta":
            streaming.set()

    events = Recorder()
    convo = await new_conversation(user)
    run = await stopped_while_streaming(make_engine(calls, emit=emit), convo, user, streaming)
    assert run.status == Run.Status.CANCELLED
    last = (await messages_of(convo))[-1]
    assert last.status == Message.Status.INTERRUPTED and last.content
    assert events.types()[-1] == "run.finished"


async def test_a_stop_whose_cancellation_is_swallowed_still_stops_the_run_at_the_next_event(
        fake, user, calls):
    """A library may swallow a task's cancellation (asgiref's sync_to_async does when the sync
    code it ran used async_to_sync): the Stop is remembered and the stream ends at its next event."""
    fake.script_openai(text("a b c d e f g h i j", chunks=10).delayed(between=0.1))
    streaming, swallowed = asyncio.Event(), []

    async def emit(event):  # a publisher that loses the first cancellation it sees
        events.events.append(event)
        if event["type"] == "assistant.delta" and not streaming.is_set():
            streaming.set()
            try:
                await asyncio.sleep(2)
            except asyncio.CancelledError:
                swallowed.append(event["delta"])

    events = Recorder()
    convo = await new_conversation(user)
    run = await stopped_while_streaming(make_engine(calls, emit=emit), convo, user, streaming)
    assert len(swallowed) == 1
    assert run.status == Run.Status.CANCELLED
    assert [e["delta"] for e in events.of("assistant.delta")] == swallowed  # nothing after the Stop
    last = (await messages_of(convo))[-1]
    assert last.status == Message.Status.INTERRUPTED and last.content == swallowed[0]


async def test_tools_the_user_may_not_use_are_never_sent_to_the_model(fake, user, calls):
    fake.script_openai(text("ok"))
    convo = await new_conversation(user)
    await make_engine(calls).send(convo, user, "hi")
    names = {t["function"]["name"] for t in fake.bodies()[0]["tools"]}
    assert names == {"add", "wipe"}


async def test_a_repeated_client_id_is_not_processed_twice(fake, user, calls):
    fake.script_openai(text("once"))
    convo = await new_conversation(user)
    engine = make_engine(calls)
    first = await engine.send(convo, user, "hi", client_id="6f1c54a4-8d4a-4f51-9f59-5a7f1b0c0e11")
    second = await engine.send(convo, user, "hi", client_id="6f1c54a4-8d4a-4f51-9f59-5a7f1b0c0e11")
    assert first.pk == second.pk
    assert len(fake.requests) == 1
    assert await Message.objects.filter(conversation=convo, role="user").acount() == 1


# --- parking and resuming --------------------------------------------------------------------


async def park(fake, user, calls):
    fake.script_openai(tool_calls(call("add", {"a": 1, "b": 1}, id="ok1"),
                                  call("wipe", {"target": "db"}, id="w1")))
    convo = await new_conversation(user)
    run = await make_engine(calls, gate=approve_high_risk).send(convo, user, "wipe the db")
    return convo, run


async def test_a_parked_call_leaves_the_run_waiting_and_runs_nothing_risky(fake, user, calls):
    convo, run = await park(fake, user, calls)
    assert run.status == Run.Status.WAITING
    record = await ToolCall.objects.aget(call_id="w1")
    assert record.status == ToolCall.Status.PENDING
    assert calls.counts == {"add": 1}
    assert [m.role for m in await messages_of(convo)] == ["user", "assistant"]


async def test_resume_after_a_restart_continues_from_the_database_alone(fake, user, calls):
    _convo, run = await park(fake, user, calls)
    record = await ToolCall.objects.aget(call_id="w1")
    fresh_pipeline = Pipeline(make_engine(calls).pipeline.registry, gate=approve_high_risk)
    from tools.context import ToolContext

    await fresh_pipeline.run_approved(record.pk, ToolContext(user=user))
    fake.script_openai(text("wiped"))
    restarted = Engine(pipeline=fresh_pipeline)  # a new process: nothing in memory survives
    resumed = await restarted.resume(run.pk)
    assert resumed.status == Run.Status.COMPLETED
    assert calls.counts == {"add": 1, "wipe": 1}
    tool_results = {m["tool_call_id"]: m["content"] for m in fake.bodies()[-1]["messages"]
                    if m["role"] == "tool"}
    assert tool_results == {"ok1": "2", "w1": '{"wiped": "db"}'}


async def test_two_racing_resumes_continue_the_run_once(fake, user, calls):
    convo, run = await park(fake, user, calls)
    record = await ToolCall.objects.aget(call_id="w1")
    engine = make_engine(calls, gate=approve_high_risk)
    from tools.context import ToolContext

    await engine.pipeline.run_approved(record.pk, ToolContext(user=user))
    fake.script_openai(text("wiped").delayed(first=0.1))
    a, b = await asyncio.gather(engine.resume(run.pk), make_engine(calls).resume(run.pk))
    assert Run.Status.COMPLETED in (a.status, b.status)
    assert len(fake.requests) == 2  # the parked turn and exactly one continuation
    assert calls.counts["wipe"] == 1
    assert await Message.objects.filter(conversation=convo, role="tool").acount() == 1


async def test_resume_does_nothing_while_a_call_is_still_pending(fake, user, calls):
    _convo, run = await park(fake, user, calls)
    again = await make_engine(calls).resume(run.pk)
    assert again.status == Run.Status.WAITING
    assert len(fake.requests) == 1


async def test_a_denied_call_never_executes_and_the_model_is_told(fake, user, calls):
    _convo, run = await park(fake, user, calls)
    engine = make_engine(calls, gate=approve_high_risk)
    record = await ToolCall.objects.aget(call_id="w1")
    await engine.pipeline.deny_pending(record.pk, "not today")
    fake.script_openai(text("It was denied."))
    resumed = await engine.resume(run.pk)
    assert resumed.status == Run.Status.COMPLETED
    assert "wipe" not in calls.counts
    denied = next(m for m in fake.bodies()[-1]["messages"] if m.get("tool_call_id") == "w1")
    assert json.loads(denied["content"])["error"]["type"] == "denied"


async def test_cancelling_a_waiting_run_closes_its_pending_calls(fake, user, calls):
    convo, run = await park(fake, user, calls)
    await make_engine(calls).cancel(run.pk)
    await run.arefresh_from_db()
    assert run.status == Run.Status.CANCELLED
    record = await ToolCall.objects.aget(call_id="w1")
    assert record.status == ToolCall.Status.DENIED
    fake.script_openai(text("fresh start"))
    nxt = await make_engine(calls).send(convo, user, "something else")
    assert nxt.status == Run.Status.COMPLETED
    assert [m["tool_call_id"] for m in fake.bodies()[-1]["messages"] if m["role"] == "tool"] == ["ok1", "w1"]


# --- the history rebuilt from the database is what was sent ----------------------------------


@pytest.mark.parametrize("profile", ["fake-openai", "fake-anthropic", "fake-responses"])
async def test_history_rebuilt_from_the_database_matches_every_request_sent(fake, user, calls, profile):
    steps = [
        tool_calls(call("add", {"a": 1, "b": 2}, id="h1"), call("add", {"a": "bad"}, id="h2"),
                   reasoning="two sums"),
        tool_calls(call("add", {"a": 5, "b": 5}, id="h3"), text="Let me fix that."),
        text("The answers are 3 and 10."),
    ]
    script_for(fake, profile)(*steps)
    convo = await new_conversation(user, profile)
    engine = make_engine(calls)
    run = await engine.send(convo, user, "sums please")
    assert run.status == Run.Status.COMPLETED
    history = await sync_to_async(conversation_history)(convo.pk)
    tools = list(engine.pipeline.registry)
    tools = [t for t in tools if t.name != "secret"]
    bodies = fake.bodies()
    # request k was sent with the first 1, 3 and 5 messages of the stored history
    for body, count in zip(bodies, (1, 3, 5), strict=True):
        assert body[HISTORY_KEY[profile]] == sent_messages(profile, history[:count], tools)


@pytest.mark.parametrize("profile", ["fake-openai", "fake-anthropic", "fake-responses"])
async def test_a_tool_round_completes_in_every_wire_format(fake, user, calls, profile):
    script_for(fake, profile)(
        tool_calls(call("add", {"a": 2, "b": 3}, id="call_w1"), call("add", {"a": 1, "b": 1}, id="call_w2")),
        text("5 and 2"))
    convo = await new_conversation(user, profile)
    run = await make_engine(calls).send(convo, user, "two sums")
    assert run.status == Run.Status.COMPLETED and run.steps == 2 and calls.counts == {"add": 2}
    assert run.input_tokens > 0 and run.output_tokens > 0
    stored = await messages_of(convo)
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert [c["id"] for c in stored[1].tool_calls] == ["call_w1", "call_w2"]


async def test_responses_reasoning_is_stored_with_the_turn_and_sent_back_next_turn(fake, user, calls):
    fake.script_responses(tool_calls(call("add", {"a": 6, "b": 7}, id="r1"), reasoning="add them"),
                          text("13"))
    convo = await new_conversation(user, "fake-responses")
    run = await make_engine(calls).send(convo, user, "6+7")
    assert run.status == Run.Status.COMPLETED
    turn = (await messages_of(convo))[1]
    (item,) = turn.provider_state["openai_responses"]["reasoning"]
    assert item["type"] == "reasoning" and item["encrypted_content"].startswith("enc_")
    second = fake.bodies()[1]
    assert second["store"] is False
    assert second["input"][1] == item and second["input"][2]["call_id"] == "r1"


async def test_a_responses_stream_cut_midway_with_no_retries_left_fails_the_run_as_chat_does(
        fake, user, calls, settings):
    settings.LLM_MAX_RETRIES = 0
    fake.script_responses(text("partial answer here", chunks=3).cut(after=6))  # 2 deltas
    convo = await new_conversation(user, "fake-responses")
    run = await make_engine(calls).send(convo, user, "hi")
    assert run.status == Run.Status.FAILED and run.error_code == "provider_stream_interrupted"
    stored = await messages_of(convo)
    assert stored[-1].status == Message.Status.INTERRUPTED and stored[-1].content == "partial answer"
    assert stored[-1].provider_state == {}


async def test_a_cancel_requested_by_another_process_stops_the_run_between_steps(fake, user, calls):
    async def cancel_from_elsewhere(call):
        # Another process can only reach the run through the database.
        await Run.objects.filter(conversation__owner=user).aupdate(cancel_requested=True)
        from tools.gate import GateDecision

        return GateDecision.allow()

    fake.script_openai(tool_calls(call("add", {"a": 1, "b": 1}, id="x1")))
    convo = await new_conversation(user)
    run = await make_engine(calls, gate=cancel_from_elsewhere).send(convo, user, "add")
    assert run.status == Run.Status.CANCELLED and calls.counts == {"add": 1}
    assert len(fake.requests) == 1  # no further model turn after the cancel was seen
    assert [m.role for m in await messages_of(convo)] == ["user", "assistant", "tool"]


async def test_a_cancel_requested_while_the_model_speaks_stops_the_run_before_its_tools_run(
        fake, user, calls):
    convo = await new_conversation(user)
    fake.script_openai(tool_calls(call("add", {"a": 1, "b": 1}, id="x1")).delayed(first=0.3))
    sending = asyncio.ensure_future(make_engine(calls).send(convo, user, "add"))
    # The model is thinking (the server's thread records the request): another process asks to cancel.
    while not fake.requests:  # noqa: ASYNC110 - a list filled by another thread, no event to await
        await asyncio.sleep(0.01)
    await Run.objects.filter(conversation=convo).aupdate(cancel_requested=True)
    run = await sending
    assert run.status == Run.Status.CANCELLED and calls.counts == {}
    stored = await messages_of(convo)
    assert [m.role for m in stored] == ["user", "assistant", "tool"]
    assert json.loads(stored[2].tool_results[0]["content"])["error"]["type"] == "denied"


@pytest.mark.parametrize("profile", ["fake-openai", "fake-anthropic", "fake-responses"])
async def test_nul_and_lone_surrogates_from_the_model_and_a_tool_never_fail_the_run(fake, user, profile):
    """PostgreSQL cannot store U+0000 and no database a lone surrogate; a hostile model (or
    tool) sending them used to crash the run at its first save. Arguments holding them are
    refused with a clear error (what runs is exactly what is recorded); a result or reply
    holding them is stored with U+FFFD; every record is kept and the audit chain verifies."""
    from approvals import audit
    from tools.registry import Registry

    registry = Registry()

    @registry.tool
    def echo(text: str) -> str:
        """Return the text with a NUL appended.

        Args:
            text: Any text.
        """
        return text + "\x00!"

    script_for(fake, profile)(
        tool_calls(call("echo", {"text": "a\x00b"}, id="call_nul")),
        tool_calls(call("echo", {"text": "fine"}, id="call_ok")),
        text("done\x00 \udc79end"))
    convo = await new_conversation(user, profile)
    run = await Engine(pipeline=Pipeline(registry)).send(convo, user, "echo something odd")

    assert run.status == Run.Status.COMPLETED, run.error
    refused = await ToolCall.objects.aget(call_id="call_nul")
    assert refused.status == ToolCall.Status.REJECTED and refused.error["type"] == "validation_error"
    assert refused.error["details"] == [{
        "path": "text", "got": "a\ufffdb",
        "problem": "contains a NUL character (U+0000) or an unpaired surrogate, which arguments may not "
                   "hold (send binary data encoded, e.g. as base64)"}]
    ran = await ToolCall.objects.aget(call_id="call_ok")
    assert ran.status == ToolCall.Status.SUCCEEDED and ran.result == "fine\ufffd!"
    stored = [(m.role, m.content) for m in await messages_of(convo)]
    assert stored[0] == ("user", "echo something odd") and stored[-1] == ("assistant", "done\ufffd \ufffdend")
    assert [role for role, _ in stored] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert (await sync_to_async(audit.verify)()).ok
