"""Runs a stopped process left running are closed — after a lease, so live ones never are."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.utils import timezone

from assistant.models import Conversation, Message, Run, RunToolCall
from assistant.realtime import delivery as realtime
from assistant.realtime.consumers import ConversationConsumer
from assistant.runs import recovery
from assistant.runs.history import conversation_history
from assistant.tasks import recover_interrupted_runs
from tools.models import ToolCall

LEASE = 600


def make_run(user, *, age: float, status: str = Run.Status.RUNNING) -> Run:
    convo = Conversation.objects.create(owner=user, profile="demo")
    touched = timezone.now() - timedelta(seconds=age)
    return Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8, status=status,
                              created_at=touched, updated_at=touched)


def cut_off_during_a_tool(run: Run) -> ToolCall:
    """The run's last turn asked for a tool that was running when its process stopped."""
    Message.objects.create(conversation=run.conversation, run=run, position=0, role="user", content="hi")
    turn = Message.objects.create(
        conversation=run.conversation, run=run, position=1, role="assistant",
        tool_calls=[{"id": "c1", "name": "calculator", "arguments": '{"expression": "1+1"}'}])
    record = ToolCall.objects.create(call_id="c1", user=run.user, username=run.user.username,
                                     tool_name="calculator", status=ToolCall.Status.RUNNING,
                                     arguments={"expression": "1+1"})
    RunToolCall.objects.create(run=run, message=turn, call_id="c1", index=0, tool_call=record)
    return record


@pytest.mark.django_db
def test_only_runs_untouched_for_the_lease_are_closed(user):
    stale = make_run(user, age=LEASE + 5)
    live = make_run(user, age=LEASE - 60)
    waiting = make_run(user, age=LEASE * 10, status=Run.Status.WAITING)
    assert recovery.close_interrupted_runs(LEASE) == 1
    for run in (stale, live, waiting):
        run.refresh_from_db()
    assert (stale.status, stale.error_code) == (Run.Status.FAILED, "interrupted")
    assert stale.finished_at is not None
    assert live.status == Run.Status.RUNNING
    assert waiting.status == Run.Status.WAITING


@pytest.mark.django_db
def test_without_a_lease_every_running_run_is_closed(user):
    make_run(user, age=1)
    assert recovery.close_interrupted_runs(None) == 1


@pytest.mark.django_db
def test_a_run_that_moved_on_since_it_was_read_is_not_taken(user):
    run = make_run(user, age=LEASE + 5)
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now())  # its driver took a step meanwhile
    assert recovery.close_run(run) is False
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING


@pytest.mark.django_db
def test_a_call_cut_off_mid_execution_is_failed_not_run_again_and_the_history_stays_valid(user):
    run = make_run(user, age=LEASE + 5)
    record = cut_off_during_a_tool(run)
    assert recovery.close_interrupted_runs(LEASE) == 1
    record.refresh_from_db()
    assert record.status == ToolCall.Status.FAILED
    assert "was not run again" in record.error["message"]
    history = conversation_history(run.conversation_id)
    assert [m.role for m in history] == ["user", "assistant", "tool"]
    [result] = history[-1].tool_results
    assert result.call_id == "c1" and result.is_error and "was not run again" in result.content


@pytest.mark.django_db
def test_recover_runs_close_with_a_lease_takes_only_stale_runs(user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    make_run(user, age=LEASE + 5)
    make_run(user, age=5)
    out = io.StringIO()
    call_command("recover_runs", "--lease", "--close", stdout=out)
    assert "1 interrupted run(s) closed." in out.getvalue()
    assert Run.objects.filter(status=Run.Status.RUNNING).count() == 1


@pytest.mark.django_db
def test_recover_runs_in_the_embedded_default_leaves_them_to_the_server(user, settings):
    settings.RUN_CONTINUE_ON_START = True
    make_run(user, age=LEASE + 5)
    out = io.StringIO()
    call_command("recover_runs", stdout=out)
    assert "1 interrupted run(s) will be continued by the server" in out.getvalue()
    assert Run.objects.filter(status=Run.Status.RUNNING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_hands_only_stale_runs_to_a_new_driver_which_finishes_them(user, settings):
    from assistant.runs import store

    settings.RUN_LEASE_SECONDS = LEASE
    stale = store.start_run(Conversation.objects.create(owner=user, profile="demo"), user, "hello",
                            max_steps=8).run
    Run.objects.filter(pk=stale.pk).update(driver="dead:1:x",
                                           updated_at=timezone.now() - timedelta(seconds=LEASE + 5))
    live = make_run(user, age=5)
    assert recover_interrupted_runs() == 1  # without Celery, the new driver is this process
    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.recoveries) == (Run.Status.COMPLETED, 1)
    assert Message.objects.filter(run=stale, role="assistant", status="complete").count() == 1
    assert live.status == Run.Status.RUNNING


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_is_told_that_the_run_ended(user, monkeypatch, settings):
    monkeypatch.setattr(realtime, "_log", None)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    run = await sync_to_async(make_run)(user, age=LEASE + 5)
    path = f"/ws/conversations/{run.conversation_id}/"
    socket = WebsocketCommunicator(ConversationConsumer.as_asgi(), path)
    socket.scope["user"] = user
    socket.scope["url_route"] = {"kwargs": {"conversation_id": run.conversation_id}}
    assert (await socket.connect())[0]
    assert await sync_to_async(recovery.close_interrupted_runs)(LEASE) == 1
    error = json.loads(await socket.receive_from(timeout=5))
    finished = json.loads(await socket.receive_from(timeout=5))
    assert (error["type"], error["code"]) == ("error", "interrupted")
    assert finished["type"] == "run.finished" and finished["run"]["status"] == "failed"
    assert finished["run"]["error"]["code"] == "interrupted"
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_server_killed_mid_tool_call_leaves_no_call_running_after_recovery(user, tmp_path):
    """The crash as it happens: a real Daphne runs an allowed ``run_python`` for this user's
    message and is SIGKILLed while the code runs, before any tool-results turn (and so any
    RunToolCall link) exists. Recovery past the lease closes the run *and* the call, audits
    the ending, and the code never runs again."""
    from approvals.models import AuditEvent, ToolPolicy
    from tests.live import Daphne, connect, events_until, say, session_cookie

    await ToolPolicy.objects.acreate(tool_name="run_python", approval=ToolPolicy.Approval.NEVER)
    shared = Path(tempfile.mkdtemp(prefix="toolgate-kill-"))
    os.chmod(shared, 0o777)  # the sandbox's unprivileged uid writes the marker here
    marker = shared / "ran.txt"
    code = f"open({str(marker)!r}, 'a').write('ran\\n')\nimport time\ntime.sleep(60)"
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    cookie = await sync_to_async(session_cookie)(user)
    # The marker is how the test sees the code running (and running once): it is written to
    # the host, which bubblewrap's isolation would forbid, so this server runs the weaker,
    # explicitly accepted sandbox (what is tested here is recovery, not isolation).
    weak = {"TOOLS_SANDBOX_BWRAP": "/nonexistent/bwrap", "TOOLS_SANDBOX_ALLOW_WEAK": "true"}
    server = await asyncio.to_thread(Daphne(tmp_path / "daphne.log", **weak).start)
    try:
        socket = await connect(server, cookie, f"/ws/conversations/{convo.pk}/")
        await say(socket, "/call run_python " + json.dumps({"code": code}))
        await events_until(socket, "tool.call")
        for _ in range(600):
            if marker.exists():
                break
            await asyncio.sleep(0.1)
        assert marker.exists(), server.output()[-3000:]
        record = await ToolCall.objects.aget(tool_name="run_python")
        assert record.status == ToolCall.Status.RUNNING
        server.kill()
    finally:
        server.stop()
    run = await Run.objects.aget(conversation=convo)
    assert run.status == Run.Status.RUNNING
    assert not await RunToolCall.objects.filter(run=run).aexists()  # nothing links the call yet
    await Run.objects.filter(pk=run.pk).aupdate(updated_at=timezone.now() - timedelta(seconds=LEASE + 5))

    assert await sync_to_async(recovery.close_interrupted_runs)(LEASE) == 1

    await record.arefresh_from_db()
    assert record.status == ToolCall.Status.FAILED
    assert "was not run again" in record.error["message"]
    kinds = [k async for k in AuditEvent.objects.filter(tool_call_id=record.pk).order_by("seq")
             .values_list("kind", flat=True)]
    assert kinds[-2:] == ["call.started", "call.failed"]
    run = await Run.objects.aget(pk=run.pk)
    assert (run.status, run.error_code) == (Run.Status.FAILED, "interrupted")
    history = await sync_to_async(conversation_history)(convo.pk)
    assert [m.role for m in history] == ["user", "assistant", "tool"]
    [result] = history[-1].tool_results
    assert result.is_error and "was not run again" in result.content
    assert marker.read_text() == "ran\n"


WEAK = {"TOOLS_SANDBOX_BWRAP": "/nonexistent/bwrap", "TOOLS_SANDBOX_ALLOW_WEAK": "true"}
CONTINUE = {"RUN_CONTINUE_ON_START": "true"}


async def _until(check, within: float = 120.0, what: str = ""):
    for _ in range(int(within * 10)):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _finished(convo) -> Run | None:
    return await Run.objects.filter(conversation=convo).exclude(status__in=Run.ACTIVE).afirst()


async def _killed_mid_call(user, tmp_path, convo, message: str, tool: str, env: dict[str, str],
                           started=None) -> ToolCall:
    """A real Daphne gets ``message`` (a /call of ``tool``) and is SIGKILLed while the call runs."""
    from tests.live import Daphne, connect, events_until, say, session_cookie

    cookie = await sync_to_async(session_cookie)(user)
    server = await asyncio.to_thread(Daphne(tmp_path / "daphne-1.log", **env).start)
    try:
        socket = await connect(server, cookie, f"/ws/conversations/{convo.pk}/")
        await say(socket, message)
        await events_until(socket, "tool.call")
        record = await _until(lambda: ToolCall.objects.filter(tool_name=tool, status="running").afirst(),
                              what=f"{tool} to be running")
        if started is not None:
            await _until(started, what=f"{tool} to have started its work")
        server.kill()
    finally:
        server.stop()
    return record


@pytest.mark.django_db(transaction=True)
async def test_a_server_killed_mid_call_continues_the_run_after_a_restart_and_reports_the_call_interrupted(
        user, tmp_path):
    """``run_python`` is not idempotent: cut off by a SIGKILL, it is closed as interrupted and
    the model is told; the restarted server continues the run to its answer, and the code
    never runs again."""
    from approvals.models import AuditEvent, ToolPolicy
    from tests.live import Daphne

    await ToolPolicy.objects.acreate(tool_name="run_python", approval=ToolPolicy.Approval.NEVER)
    shared = Path(tempfile.mkdtemp(prefix="toolgate-kill-"))
    os.chmod(shared, 0o777)  # the sandbox's unprivileged uid writes the marker here
    marker = shared / "ran.txt"
    code = f"open({str(marker)!r}, 'a').write('ran\\n')\nimport time\ntime.sleep(60)"
    convo = await Conversation.objects.acreate(owner=user, profile="demo")

    async def wrote_marker() -> bool:
        return marker.exists()

    record = await _killed_mid_call(user, tmp_path, convo, "/call run_python " + json.dumps({"code": code}),
                                    "run_python", WEAK, started=wrote_marker)
    assert (await Run.objects.aget(conversation=convo)).status == Run.Status.RUNNING

    server = await asyncio.to_thread(Daphne(tmp_path / "daphne-2.log", **WEAK, **CONTINUE).start)
    try:
        run = await _until(lambda: _finished(convo), what="the run to be continued and finish")
    finally:
        server.stop()

    assert run.status == Run.Status.COMPLETED, (run.error, server.output()[-3000:])
    assert run.recoveries == 1
    await record.arefresh_from_db()
    assert record.status == ToolCall.Status.FAILED and "was not run again" in record.error["message"]
    assert await ToolCall.objects.acount() == 1
    kinds = [k async for k in AuditEvent.objects.filter(tool_call_id=record.pk).order_by("seq")
             .values_list("kind", flat=True)]
    assert kinds.count("call.started") == 1 and kinds[-1] == "call.failed"
    history = await sync_to_async(conversation_history)(convo.pk)
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
    [result] = history[2].tool_results
    assert result.is_error and "was not run again" in result.content
    assert marker.read_text() == "ran\n"


SLOW_COUNT = 6_000_000  # a few seconds of SQLite work: cut off, then run to the end once more


@pytest.mark.django_db(transaction=True)
async def test_a_server_killed_mid_idempotent_call_runs_it_once_more_after_a_restart(user, tmp_path):
    """``query_database`` is idempotent (read-only): cut off by a SIGKILL, the restarted server
    runs it once more, under its own idempotency key, and the model gets its result."""
    from approvals.models import AuditEvent
    from tests.live import Daphne, connect, events_until, session_cookie

    sql = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
           "SELECT count(*) AS n FROM c")
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    slow = {"TOOLS_SQL_TIMEOUT": "300"}
    cut = await _killed_mid_call(user, tmp_path, convo, "/call query_database " + json.dumps(
        {"sql": sql, "params": [SLOW_COUNT]}), "query_database", slow)

    cookie = await sync_to_async(session_cookie)(user)
    server = await asyncio.to_thread(Daphne(tmp_path / "daphne-2.log", **slow, **CONTINUE).start)
    try:
        socket = await connect(server, cookie, f"/ws/conversations/{convo.pk}/")
        seen = await events_until(socket, "run.finished", within=180)
        run = await _until(lambda: _finished(convo), what="the run to finish")
    finally:
        server.stop()

    assert run.status == Run.Status.COMPLETED, (run.error, server.output()[-3000:])
    assert seen[-1]["run"]["status"] == "completed"  # the socket on the new server saw it end
    await cut.arefresh_from_db()
    assert cut.status == ToolCall.Status.FAILED and "was run again" in cut.error["message"]
    again = await ToolCall.objects.exclude(pk=cut.pk).aget()  # exactly one re-run
    assert again.status == ToolCall.Status.SUCCEEDED and again.result["rows"] == [[SLOW_COUNT]]
    started = await AuditEvent.objects.filter(kind="call.started").acount()
    assert started == 2  # the cut-off run and the one re-run, no more
    history = await sync_to_async(conversation_history)(convo.pk)
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
    [result] = history[2].tool_results
    assert not result.is_error and str(SLOW_COUNT) in result.content
