"""Runs live in Celery workers: a worker SIGKILLed mid-run is replaced by another that
continues the run from its last durable step, and the socket sees the run finish.

The socket is served in this process (the web side: it stores the message and enqueues
``drive_run``); workers are real ``celery worker`` processes; every event reaches the socket
through Redis. The dead worker's lease is aged instead of waited out (60 s by default), then
the recovery task beat sends every minute is sent, and a second worker continues the run.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from approvals.models import ToolPolicy
from assistant.models import Conversation, Message, Run
from assistant.runs import chat
from assistant.tasks import recover_interrupted_runs
from tests.approvals.helpers import open_socket, say
from tests.assistant.runs.engine_helpers import KEY_ENV
from tests.fakes.scripts import text
from tests.prod.helpers import events_until, eventually
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

WEAK_SANDBOX = {"TOOLS_SANDBOX_BWRAP": "/nonexistent/bwrap", "TOOLS_SANDBOX_ALLOW_WEAK": "true"}
ANSWER = "The whole answer, from the second worker."


def profiles(server) -> dict[str, str]:
    """The environment that points a worker's ``fake-openai`` profile at the fake server."""
    return {"LLM_PROFILES": json.dumps({"fake-openai": {
        "provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url,
        "api_key_env": KEY_ENV}}), KEY_ENV: "sk-test-not-a-real-key", "LLM_MAX_RETRIES": "0"}


async def lease_runs_out(run_id) -> None:
    """As a minute without heartbeats leaves the dead worker's run."""
    await Run.objects.filter(pk=run_id).aupdate(updated_at=timezone.now() - timedelta(seconds=120))


async def test_a_worker_killed_mid_stream_is_replaced_and_the_turn_streams_again(user, services, fake_llm):
    env = profiles(fake_llm)
    fake_llm.script_openai(text("word " * 80, chunks=80).delayed(between=0.25), text(ANSWER, chunks=3))
    first = await services("worker", **env)
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, "hello")
    before = await events_until(socket, "assistant.delta")
    streamed_id = before[-1]["message_id"]
    run = await Run.objects.aget(conversation=convo)
    assert run.driver and not chat._tasks  # a worker drives it, not this (web) process
    first.kill()  # SIGKILL, mid-stream: nothing is stored for the turn

    await lease_runs_out(run.pk)
    second = await services("worker", **env)
    recover_interrupted_runs.delay()  # what beat sends every minute
    after = await events_until(socket, "run.finished", within=120)

    assert after[-1]["run"]["status"] == "completed"
    retry = next(e for e in after if e["type"] == "assistant.retry")
    assert retry["message_id"] == streamed_id  # every client drops the text it had
    resumed = after[after.index(retry):]
    text_ = "".join(e["delta"] for e in resumed if e["type"] == "assistant.delta")
    assert text_ == ANSWER
    stored = [(m.role, m.content, m.status) async for m in
              Message.objects.filter(conversation=convo).order_by("position")]
    assert stored == [("user", "hello", "complete"), ("assistant", ANSWER, "complete")]
    run = await Run.objects.aget(pk=run.pk)
    assert (run.status, run.recoveries) == (Run.Status.COMPLETED, 1)
    assert len(fake_llm.requests) == 2
    assert "assistant.tasks.drive_run" in second.output()
    await socket.disconnect()


async def test_a_worker_killed_mid_tool_call_is_replaced_and_the_call_is_reported_not_run_again(
        user, services, world_writable_dir):
    await ToolPolicy.objects.acreate(tool_name="run_python", approval=ToolPolicy.Approval.NEVER)
    first = await services("worker", **WEAK_SANDBOX)
    marker = world_writable_dir / "runs.txt"
    code = f"open({str(marker)!r}, 'a').write('ran\\n')\nimport time\ntime.sleep(60)"
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, "/call run_python " + json.dumps({"code": code}))
    await events_until(socket, "tool.call")
    await eventually(lambda: _exists(marker), what="the code to start in the worker")
    record = await ToolCall.objects.aget(tool_name="run_python")
    assert record.status == ToolCall.Status.RUNNING
    first.kill()

    run = await Run.objects.aget(conversation=convo)
    await lease_runs_out(run.pk)
    await services("worker", **WEAK_SANDBOX)
    recover_interrupted_runs.delay()
    after = await events_until(socket, "run.finished", within=120)

    assert after[-1]["run"]["status"] == "completed"
    result = next(e for e in after if e["type"] == "tool.result")
    assert result["tool_call"]["status"] == "error"
    assert "was not run again" in result["tool_call"]["error"]["message"]
    assert not [e for e in after if e["type"] == "tool.call"]  # nothing started again
    record = await ToolCall.objects.aget(pk=record.pk)
    assert record.status == ToolCall.Status.FAILED
    assert await ToolCall.objects.acount() == 1
    roles = [m.role async for m in Message.objects.filter(conversation=convo).order_by("position")]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert marker.read_text() == "ran\n"
    await socket.disconnect()


async def test_a_stop_from_the_web_process_stops_the_run_its_worker_drives(user, services, fake_llm):
    fake_llm.script_openai(text("word " * 80, chunks=80).delayed(between=0.25))
    await services("worker", **profiles(fake_llm))
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, "hello")
    await events_until(socket, "assistant.delta")

    await socket.send_to(text_data=json.dumps({"type": "run.cancel"}))
    after = await events_until(socket, "run.finished", within=60)

    assert after[-1]["run"]["status"] == "cancelled"
    kept = await Message.objects.aget(conversation=convo, role="assistant")
    assert kept.status == Message.Status.INTERRUPTED and kept.content.startswith("word")
    await socket.disconnect()


async def _exists(path) -> bool:
    return path.exists()


async def test_the_api_event_stream_relays_the_run_a_worker_drives(user, services, fake_llm):
    from assistant.api import tokens
    from tests.api.conftest import bearer
    from tests.api.test_conversations import read_sse

    fake_llm.script_openai(text(ANSWER, chunks=3))
    worker = await services("worker", **profiles(fake_llm))
    convo = await Conversation.objects.acreate(owner=user, profile="fake-openai")
    client = bearer((await sync_to_async(tokens.create)(user, "tests")).secret)

    response = await client.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "hello"},
                                 content_type="application/json", headers={"Accept": "text/event-stream"})
    frames = await read_sse(response)

    kinds = [f["event"] for f in frames]
    assert kinds[0] == "message.created" and kinds[-1] == "run.finished"
    assert frames[-1]["data"]["run"]["status"] == "completed"
    assert "".join(f["data"]["delta"] for f in frames if f["event"] == "assistant.delta") == ANSWER
    seqs = [int(f["id"]) for f in frames if f["id"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gap-free across both processes
    assert "assistant.tasks.drive_run" in worker.output()
