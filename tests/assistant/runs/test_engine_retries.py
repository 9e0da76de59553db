"""Broken model turns are requested again, through the real SDKs against the fake server.

Each fault class (a stream cut without its end, a dropped connection, an undecodable chunk,
silence past the idle timeout, 429, 5xx) at each point (before the first token, mid-text,
mid tool-call arguments, between turns), for both wire formats: the run completes with the
good answer, the partial text is withdrawn with ``assistant.retry``, a broken turn's tool
calls never run, and the failed attempts' tokens are still counted.
"""

from __future__ import annotations

import pytest

from assistant.models import Message, Run
from tests.assistant.runs.engine_helpers import (
    Calls,
    Recorder,
    make_engine,
    new_conversation,
    script_for,
    use_fake_profiles,
)
from tests.fakes import wire
from tests.fakes.scripts import call, error, text, tool_calls
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

APIS = {"openai": "fake-openai", "anthropic": "fake-anthropic"}
KINDS = ["cut", "drop", "garbage", "stall"]
ANSWER = "The answer, complete."


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    settings.LLM_IDLE_TIMEOUT = 0.5  # the stall fault sleeps far longer
    return fake_llm


async def drive(calls, user, profile, events=None):
    convo = await new_conversation(user, profile)
    run = await make_engine(calls, emit=events).send(convo, user, "add 1 and 2")
    stored = [m async for m in Message.objects.filter(conversation=convo).order_by("position")]
    return run, stored


def withdrawn(events: Recorder) -> list[str]:
    """Message ids whose text was withdrawn, in order."""
    return [e["message_id"] for e in events.of("assistant.retry")]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_fault_before_the_first_token_is_retried(fake, user, calls, api, kind):
    fake.script(text("never seen", chunks=2).fault(kind, "start", stall=5), text(ANSWER, chunks=3))
    events = Recorder()
    run, stored = await drive(calls, user, APIS[api], events)
    assert run.status == Run.Status.COMPLETED, run.error
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "add 1 and 2", "complete"), ("assistant", ANSWER, "complete")]
    assert len(fake.requests) == 2
    assert withdrawn(events) == [str(stored[1].pk)]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_fault_mid_text_withdraws_the_partial_text_and_retries(fake, user, calls, api, kind):
    fake.script(text("Half of a first answer that breaks", chunks=4).fault(kind, "text", stall=5),
                text(ANSWER, chunks=3))
    events = Recorder()
    run, stored = await drive(calls, user, APIS[api], events)
    assert run.status == Run.Status.COMPLETED, run.error
    assert [m.content for m in stored] == ["add 1 and 2", ANSWER]
    types = events.types()
    retry = types.index("assistant.retry")
    deltas = events.of("assistant.delta")
    assert deltas[0]["delta"].startswith("Half") and types.index("assistant.delta") < retry
    # what a client keeps: the deltas after the withdrawal, under the same message id
    after = [e["delta"] for e in events.events[retry:] if e["type"] == "assistant.delta"]
    assert "".join(after) == ANSWER
    assert {e["message_id"] for e in deltas} == {str(stored[1].pk)} == set(withdrawn(events))
    # the broken attempt's tokens are counted on top of the stored answer's
    assert run.input_tokens > stored[1].input_tokens


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_fault_mid_tool_call_arguments_never_runs_the_call(fake, user, calls, api, kind):
    fake.script(tool_calls(call("add", {"a": 1, "b": 2}, id="broken_1"), text="Let me add.")
                .fault(kind, "arguments", stall=5),
                tool_calls(call("add", {"a": 1, "b": 2}, id="good_1")), text("1 + 2 = 3"))
    events = Recorder()
    run, stored = await drive(calls, user, APIS[api], events)
    assert run.status == Run.Status.COMPLETED, run.error
    assert calls.counts == {"add": 1}
    assert not await ToolCall.objects.filter(call_id="broken_1").aexists()
    assert [c["id"] for m in stored for c in m.tool_calls] == ["good_1"]
    assert stored[-1].content == "1 + 2 = 3"
    assert "broken_1" not in str(events.of("tool.call"))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", [*KINDS, "429", "503"])
async def test_a_fault_between_turns_is_retried_and_the_tool_is_not_run_again(fake, user, calls, api, fault):
    broken = error(int(fault)) if fault.isdigit() else text("Partial", chunks=2).fault(fault, "text", stall=5)
    fake.script(tool_calls(call("add", {"a": 1, "b": 2}, id="c1")), broken, text("1 + 2 = 3"))
    run, stored = await drive(calls, user, APIS[api])
    assert run.status == Run.Status.COMPLETED, run.error
    assert calls.counts == {"add": 1}
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[-1].content == "1 + 2 = 3" and len(fake.requests) == 3


@pytest.mark.parametrize("api", APIS)
async def test_a_complete_tool_call_in_a_turn_cut_before_its_end_never_runs(fake, user, calls, api):
    """Anthropic finishes a tool_use block before message_stop; OpenAI's arguments may all have
    arrived before the finish reason. Only a complete turn's calls run."""
    step = tool_calls(call("add", {"a": 1, "b": 2}, id="whole_1"))
    ctx = wire.Context(seq=1, model="m", body={"stream_options": {"include_usage": True}})
    events = wire.openai_stream(step, ctx) if api == "openai" else wire.anthropic_stream(step, ctx)
    # OpenAI: everything up to the finish-reason chunk; Anthropic: up to message_delta
    fake.script(step.cut(after=len(events) - (3 if api == "openai" else 2), clean=True), text(ANSWER))
    run, stored = await drive(calls, user, APIS[api])
    assert run.status == Run.Status.COMPLETED, run.error
    assert calls.counts == {} and not await ToolCall.objects.filter(call_id="whole_1").aexists()
    assert [m.content for m in stored] == ["add 1 and 2", ANSWER]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [500, 502, 503, 529, 429])
async def test_server_errors_and_rate_limits_are_retried(fake, user, calls, api, status):
    fake.script(error(status), error(status), text(ANSWER))
    run, stored = await drive(calls, user, APIS[api])
    assert run.status == Run.Status.COMPLETED, run.error
    assert len(fake.requests) == 3


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_a_refused_request_is_never_retried(fake, user, calls, api, status):
    fake.script(error(status))
    run, stored = await drive(calls, user, APIS[api])
    assert run.status == Run.Status.FAILED
    assert len(fake.requests) == 1
    assert f"HTTP {status}" in run.error


@pytest.mark.parametrize("profile", ["fake-openai", "fake-responses", "fake-anthropic"])
@pytest.mark.parametrize("header", [{"retry-after": "1"}, {"retry-after-ms": "700"}])
async def test_retry_after_is_honoured(fake, user, calls, header, profile, settings):
    settings.LLM_IDLE_TIMEOUT = 30  # only the 429 may cause a retry, however loaded the machine
    script_for(fake, profile)(error(429, retry_after_ms=None, headers=header), text(ANSWER))
    events = Recorder()
    run, _ = await drive(calls, user, profile, events)
    assert run.status == Run.Status.COMPLETED
    [retry] = events.of("assistant.retry")
    wanted = float(header.get("retry-after", 0)) * 1000 or float(header["retry-after-ms"])
    assert retry["delay_ms"] >= wanted


@pytest.mark.parametrize("profile", ["fake-openai", "fake-responses", "fake-anthropic"])
async def test_a_retry_after_longer_than_the_longest_wait_fails_at_once(fake, user, calls, settings, profile):
    settings.LLM_RETRY_MAX_DELAY = 2
    script_for(fake, profile)(error(429, retry_after_ms=None, headers={"retry-after": "120"}))
    run, _ = await drive(calls, user, profile)
    assert run.status == Run.Status.FAILED and run.error_code == "provider_rate_limited"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("api", APIS)
async def test_attempts_are_bounded_and_then_the_run_fails_with_a_clear_message(
        fake, user, calls, api, settings):
    settings.LLM_MAX_RETRIES = 2
    fake.script(*[text("Broken answer", chunks=2).fault("cut", "text")] * 3)
    events = Recorder()
    run, stored = await drive(calls, user, APIS[api], events)
    assert run.status == Run.Status.FAILED and run.error_code == "provider_stream_interrupted"
    assert len(fake.requests) == 3 and len(events.of("assistant.retry")) == 2
    assert "interrupted before the answer finished" in run.error and "(3 attempts.)" in run.error
    # the last attempt's text is kept as an interrupted answer, as before retries existed
    assert stored[-1].status == Message.Status.INTERRUPTED
    assert stored[-1].content.startswith("Broken") and "answer" not in stored[-1].content
    assert run.input_tokens > 0  # all three attempts were paid for


async def test_http_errors_name_the_attempts_when_retries_run_out(fake, user, calls, settings):
    settings.LLM_MAX_RETRIES = 1
    fake.script(error(500), error(500))
    run, _ = await drive(calls, user, "fake-openai")
    assert run.error == "OpenAI had a server error (HTTP 500) after 2 attempts. Try again later."
