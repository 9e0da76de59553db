"""A run whose driver died is continued by another from its last durable step (Engine.carry_on).

The dead driver's state is written as a killed process leaves it (what the durable steps
had stored, its lease run out); the real SDK talks to the fake server. The crash itself,
with real processes killed, is in tests/assistant/runs/test_recovery.py (Daphne) and
tests/prod/test_worker_takeover.py (Celery workers).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from assistant.models import Message, Run
from assistant.runs import control, recovery, store
from assistant.runs.engine import Engine, turn_message_id
from tests.assistant.runs.engine_helpers import Calls, Recorder, new_conversation, use_fake_profiles
from tests.fakes.scripts import text
from tools import records
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline
from tools.registry import Registry

pytestmark = pytest.mark.django_db(transaction=True)
LEASE = 60
ANSWER = "Here is the answer, after all."


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


def registry(calls: Calls) -> Registry:
    tools = Registry()

    @tools.tool
    def charge(amount: int) -> dict[str, int]:
        """Charge the user's card (not safe to repeat).

        Args:
            amount: Cents to charge.
        """
        calls.hit("charge")
        return {"charged": amount}

    @tools.tool(idempotent=True)
    def measure(item: str) -> dict[str, str]:
        """Measure an item (safe to repeat).

        Args:
            item: What to measure.
        """
        calls.hit("measure")
        return {"item": item, "size": "large"}

    return tools


def engine(calls: Calls, events: Recorder | None = None) -> Engine:
    return Engine(pipeline=Pipeline(registry(calls)), emit=events)


def dead_driver_left(run: Run, *, age: float = LEASE + 5) -> None:
    """As a SIGKILLed driver leaves its run: held, its lease not renewed for ``age`` s."""
    Run.objects.filter(pk=run.pk).update(driver="gone-host:4242:dead", updated_at=timezone.now()
                                         - timedelta(seconds=age))


def started(convo, user, text_: str = "measure the box and charge me") -> Run:
    return store.start_run(convo, user, text_, max_steps=8).run


def tool_turn(run: Run, *calls_: tuple[str, str, dict]) -> Message:
    """The model turn the dead driver stored (its calls run next)."""
    turn = Message.objects.create(
        id=turn_message_id(run), conversation=run.conversation, run=run, position=1, role="assistant",
        tool_calls=[{"id": cid, "name": name, "arguments": json.dumps(args)} for cid, name, args in calls_])
    Run.objects.filter(pk=run.pk).update(steps=1)
    return turn


def record(run: Run, user, call_id: str, name: str, args: dict, status: str, *, retry: bool = False,
           output=None) -> ToolCall:
    """A call's record as the pipeline writes it (found by its idempotency key)."""
    key = store.retry_key(run.pk, call_id) if retry else store.call_key(run.pk, call_id)
    scoped = records.scoped_key(key, ToolContext(user=SimpleNamespace(pk=user.pk)))
    return ToolCall.objects.create(call_id=call_id, user=user, username=user.username, tool_name=name,
                                   status=status, arguments=args, idempotency_key=scoped, result=output)


async def take_over(run: Run, calls: Calls, events: Recorder | None = None) -> Run:
    handed: list = []
    assert await sync_to_async(recovery.recover)(LEASE, handed.append) == 1
    assert handed == [run.pk]
    return await engine(calls, events).carry_on(run.pk)


async def streaming(events: Recorder) -> None:
    """Until the driver has streamed its first text."""
    for _ in range(600):
        if events.of("assistant.delta"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing streamed; saw {events.types()}")


def tool_results(fake) -> list[dict]:
    return [m for m in fake.bodies()[-1]["messages"] if m["role"] == "tool"]


async def test_a_run_cut_off_mid_stream_is_requested_again_and_its_streamed_text_withdrawn(fake, user, calls):
    fake.script_openai(text(ANSWER, chunks=3))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "hello")
    await sync_to_async(dead_driver_left)(run)
    events = Recorder()

    done = await take_over(run, calls, events)

    assert done.status == Run.Status.COMPLETED
    [retry] = events.of("assistant.retry")
    assert retry["message_id"] == str(turn_message_id(run))  # the id the dead driver streamed under
    types = events.types()
    assert types.index("assistant.retry") < types.index("assistant.delta") < types.index("run.finished")
    rows = Message.objects.filter(conversation=convo).order_by("position")
    stored = [(m.role, m.content) async for m in rows]
    assert stored == [("user", "hello"), ("assistant", ANSWER)]  # one answer, no duplicate
    assert (await Message.objects.aget(role="assistant")).pk == turn_message_id(run)
    await done.arefresh_from_db()
    assert done.recoveries == 1 and done.driver != "gone-host:4242:dead"


async def test_a_non_idempotent_call_cut_off_mid_execution_is_reported_interrupted_never_run_again(
        fake, user, calls):
    fake.script_openai(text("The charge may not have gone through; please check."))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user)
    await sync_to_async(tool_turn)(run, ("c1", "charge", {"amount": 500}))
    cut = await sync_to_async(record)(run, user, "c1", "charge", {"amount": 500}, ToolCall.Status.RUNNING)
    await sync_to_async(dead_driver_left)(run)
    events = Recorder()

    done = await take_over(run, calls, events)

    assert done.status == Run.Status.COMPLETED
    assert calls.counts.get("charge", 0) == 0
    await cut.arefresh_from_db()
    assert cut.status == ToolCall.Status.FAILED and "was not run again" in cut.error["message"]
    [result] = tool_results(fake)
    assert "was not run again" in result["content"]  # the model is told
    assert not events.of("tool.call")  # nothing was started again
    assert events.of("tool.result")[0]["tool_call"]["status"] == "error"
    assert await ToolCall.objects.acount() == 1
    roles = [m.role async for m in Message.objects.filter(conversation=convo).order_by("position")]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_an_idempotent_call_cut_off_mid_execution_is_run_once_more(fake, user, calls):
    fake.script_openai(text("The box is large."))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user)
    await sync_to_async(tool_turn)(run, ("m1", "measure", {"item": "box"}))
    cut = await sync_to_async(record)(run, user, "m1", "measure", {"item": "box"}, ToolCall.Status.RUNNING)
    await sync_to_async(dead_driver_left)(run)
    events = Recorder()

    done = await take_over(run, calls, events)

    assert done.status == Run.Status.COMPLETED
    assert calls.counts == {"measure": 1}
    await cut.arefresh_from_db()
    assert cut.status == ToolCall.Status.FAILED and "was run again" in cut.error["message"]
    again = await ToolCall.objects.exclude(pk=cut.pk).aget()
    assert again.status == ToolCall.Status.SUCCEEDED and again.call_id == "m1"
    [result] = tool_results(fake)
    assert json.loads(result["content"]) == {"item": "box", "size": "large"}
    assert [e["tool_call"]["id"] for e in events.of("tool.call")] == ["m1"]


async def test_an_idempotent_calls_rerun_cut_off_too_is_not_run_a_third_time(fake, user, calls):
    fake.script_openai(text("Measuring failed twice."))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user)
    await sync_to_async(tool_turn)(run, ("m1", "measure", {"item": "box"}))
    await sync_to_async(record)(run, user, "m1", "measure", {"item": "box"}, ToolCall.Status.FAILED)
    rerun = await sync_to_async(record)(run, user, "m1", "measure", {"item": "box"}, ToolCall.Status.RUNNING,
                                        retry=True)
    await sync_to_async(dead_driver_left)(run)

    done = await take_over(run, calls)

    assert done.status == Run.Status.COMPLETED
    assert calls.counts == {}
    await rerun.arefresh_from_db()
    assert rerun.status == ToolCall.Status.FAILED and "was not run again" in rerun.error["message"]
    assert "was not run again" in tool_results(fake)[0]["content"]


async def test_calls_that_finished_are_never_run_again_and_calls_never_started_run_once(fake, user, calls):
    fake.script_openai(text("Charged and measured."))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user)
    await sync_to_async(tool_turn)(run, ("c1", "charge", {"amount": 500}), ("m1", "measure", {"item": "box"}))
    await sync_to_async(record)(run, user, "c1", "charge", {"amount": 500}, ToolCall.Status.SUCCEEDED,
                                output={"charged": 500})
    await sync_to_async(dead_driver_left)(run)

    done = await take_over(run, calls)

    assert done.status == Run.Status.COMPLETED
    assert calls.counts == {"measure": 1}  # the charge that ran is not charged again
    contents = [json.loads(m["content"]) for m in tool_results(fake)]
    assert contents == [{"charged": 500}, {"item": "box", "size": "large"}]
    assert await ToolCall.objects.acount() == 2


async def test_a_run_whose_driver_is_alive_is_not_taken_and_a_second_delivery_does_nothing(fake, user, calls):
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "hello")
    await Run.objects.filter(pk=run.pk).aupdate(driver="alive-host:1:live", updated_at=timezone.now())
    assert await sync_to_async(recovery.recover)(LEASE, lambda run_id: None) == 0

    again = await engine(calls).carry_on(run.pk)  # e.g. the task delivered twice

    assert again.status == Run.Status.RUNNING and not fake.requests
    await run.arefresh_from_db()
    assert run.driver == "alive-host:1:live"


async def test_a_run_that_keeps_killing_its_drivers_is_closed_after_the_last_recovery(user, settings):
    settings.RUN_MAX_RECOVERIES = 2
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "hello")
    await Run.objects.filter(pk=run.pk).aupdate(recoveries=2)
    await sync_to_async(dead_driver_left)(run)
    handed: list = []

    assert await sync_to_async(recovery.recover)(LEASE, handed.append) == 1

    assert handed == []
    await run.arefresh_from_db()
    assert (run.status, run.error_code) == (Run.Status.FAILED, "interrupted")


async def test_a_stop_from_another_process_reaches_the_driver_over_the_channel_layer(fake, user, calls,
                                                                                      settings):
    settings.RUN_HEARTBEAT_SECONDS = 0  # only the control message can stop it
    fake.script_openai(text("word " * 40, chunks=40).delayed(between=0.25))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "talk")
    events = Recorder()
    driving = asyncio.create_task(Engine(pipeline=Pipeline(registry(calls)), emit=events,
                                         remote_cancel=True).carry_on(run.pk))
    await streaming(events)

    await sync_to_async(store.request_cancel)(run.pk)  # what Engine.cancel does in the web process
    await control.send_cancel(run.pk)
    done = await asyncio.wait_for(driving, 30)

    assert done.status == Run.Status.CANCELLED
    kept = await Message.objects.aget(role="assistant")
    assert kept.status == Message.Status.INTERRUPTED and kept.content.startswith("word")


async def test_a_stop_whose_message_was_lost_reaches_the_driver_at_its_next_heartbeat(fake, user, calls,
                                                                                      settings):
    settings.RUN_HEARTBEAT_SECONDS = 0.2
    fake.script_openai(text("word " * 40, chunks=40).delayed(between=0.25))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "talk")
    events = Recorder()
    driving = asyncio.create_task(engine(calls, events).carry_on(run.pk))
    await streaming(events)

    await sync_to_async(store.request_cancel)(run.pk)  # and no control message
    done = await asyncio.wait_for(driving, 30)

    assert done.status == Run.Status.CANCELLED


async def test_a_driver_whose_run_was_taken_over_stops_without_writing(fake, user, calls, settings):
    settings.RUN_HEARTBEAT_SECONDS = 0.2
    fake.script_openai(text("word " * 40, chunks=40).delayed(between=0.25))
    convo = await new_conversation(user)
    run = await sync_to_async(started)(convo, user, "talk")
    events = Recorder()
    driving = asyncio.create_task(engine(calls, events).carry_on(run.pk))
    await streaming(events)

    await Run.objects.filter(pk=run.pk).aupdate(driver="another-host:7:new")  # a new driver holds it
    await asyncio.wait_for(driving, 30)

    await run.arefresh_from_db()
    assert run.status == Run.Status.RUNNING and run.driver == "another-host:7:new"
    assert not await Message.objects.filter(role="assistant").aexists()  # nothing written
    assert "run.finished" not in events.types()
