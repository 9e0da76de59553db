"""The approval path in production mode: a real Celery worker, Redis between every process.

The chatting socket is served in this process over channels-redis; the approver decides
here too; the worker (another process) runs the tool and resumes the run, and everything
it publishes reaches the socket through Redis only.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from approvals import services as approval_services
from approvals.models import ApprovalRequest
from assistant.models import Conversation, Run
from tests.approvals.helpers import make_approver, open_socket, say
from tests.prod.helpers import events_until, eventually
from tools.models import Note, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


async def test_an_approved_call_runs_once_in_the_worker_and_the_socket_continues_through_redis(
        user, approver, services):
    worker = await services("worker")
    note = await Note.objects.acreate(owner=user, text="buy milk")
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, f"delete note {note.pk}")
    parked = await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="delete_note")

    await sync_to_async(approval_services.decide)(request.pk, approver, "approve")
    after = await events_until(socket, "run.finished")

    types = [e["type"] for e in after]
    assert types.index("approval.decided") < types.index("assistant.message") < types.index("run.finished")
    assert after[-1]["run"]["status"] == "completed"
    # tool.call.delta frames are live-only (no seq, never replayed): the log is the rest.
    logged = [e for e in after if "seq" in e]
    seqs = [e["seq"] for e in parked + after if "seq" in e]
    assert seqs == list(range(1, len(seqs) + 1))  # one sequence across both processes
    assert not await Note.objects.filter(pk=note.pk).aexists()
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.SUCCEEDED and record.attempts == 1
    assert "approvals.tasks.carry_out_decision" in worker.output()  # the worker did it, not us

    # A second socket replays what the worker published, from Redis.
    late = await open_socket(user, f"/ws/conversations/{convo.pk}/?after={parked[-1]['seq']}")
    replayed = await events_until(late, "run.finished")
    assert replayed == logged
    await late.disconnect()
    await socket.disconnect()


WEAK_SANDBOX = {"TOOLS_SANDBOX_BWRAP": "/nonexistent/bwrap", "TOOLS_SANDBOX_ALLOW_WEAK": "true"}


async def test_a_worker_killed_mid_execution_neither_runs_the_tool_twice_nor_leaves_the_run_stuck(
        user, approver, services, world_writable_dir):
    # The weak sandbox (no filesystem isolation, accepted explicitly) lets the code leave a
    # marker on the host, which is how this test counts executions across workers.
    first = await services("worker", **WEAK_SANDBOX)
    marker = world_writable_dir / "runs.txt"
    code = f"open({str(marker)!r}, 'a').write('ran\\n')\nimport time\ntime.sleep(3)\nprint('finished')"
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, "/call run_python " + json.dumps({"code": code}))
    await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="run_python")

    await sync_to_async(approval_services.decide)(request.pk, approver, "approve")
    await eventually(lambda: _exists(marker), what="the approved code to start in the worker")
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.RUNNING
    first.kill()  # SIGKILL, worker and pool child: nothing gets to acknowledge or clean up

    # The task was never acknowledged; a new worker takes it back once it is "invisible" for
    # longer than the (here, short) visibility timeout, finds the call running and closes it.
    await services("worker", CELERY_VISIBILITY_TIMEOUT=1, CELERY_RESTORE_INTERVAL=1, **WEAK_SANDBOX)
    after = await events_until(socket, "run.finished")

    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.FAILED
    assert "was not run again" in record.error["message"]
    decided = next(e for e in after if e["type"] == "approval.decided")
    assert decided["tool_call"]["status"] == "error"
    assert after[-1]["run"]["status"] == "completed"
    assert await Run.objects.filter(conversation=convo, status=Run.Status.COMPLETED).acount() == 1
    await asyncio.sleep(3.5)  # past the end of the sandboxed code, had it been started again
    assert marker.read_text() == "ran\n"
    await socket.disconnect()


async def _exists(path) -> bool:
    return path.exists()
