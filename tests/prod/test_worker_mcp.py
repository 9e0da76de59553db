"""An MCP tool's approved call in production mode: a real Celery worker runs it over the
worker's own MCP session (each process holds its own sessions), exactly once, and the
result reaches the run that asked, through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from asgiref.sync import sync_to_async

from approvals import services as approval_services
from approvals.models import ApprovalRequest
from assistant.models import Conversation, Run
from tests.approvals.helpers import make_approver, open_socket, say
from tests.fakes.mcp_servers import TOY
from tests.prod.helpers import events_until
from tools.mcp import service as mcp_service
from tools.models import ToolCall
from tools.tool_definitions import mcp_source

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


def _runs(events_file, tool: str) -> list[dict]:
    if not events_file.exists():
        return []
    lines = events_file.read_text().splitlines()
    return [e for e in (json.loads(line) for line in lines if line.strip()) if e["tool"] == tool]


async def test_an_approved_mcp_call_runs_once_in_the_worker_over_its_own_session(
        user, approver, services, tmp_path, settings):
    settings.TOOLS_MCP_DIR = tmp_path / "web-mcp"
    events_file = tmp_path / "toy-events.jsonl"  # every toy process appends here, with its parent's pid
    await sync_to_async(mcp_service.add)(
        "ptoy", actor="test", command=[sys.executable, TOY, "--events", str(events_file)])
    worker = await services("worker")
    try:
        convo = await Conversation.objects.acreate(owner=user, profile="demo")
        socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
        await say(socket, '/call ptoy__delete_file {"path": "/srv/report.txt"}')
        await events_until(socket, "run.waiting")
        request = await ApprovalRequest.objects.aget(tool_name="ptoy__delete_file")
        assert _runs(events_file, "delete_file") == []  # parked: the server has not seen it

        await sync_to_async(approval_services.decide)(request.pk, approver, "approve")
        after = await events_until(socket, "run.finished")

        assert after[-1]["run"]["status"] == "completed"
        decided = next(e for e in after if e["type"] == "approval.decided")
        assert decided["tool_call"]["status"] == "ok"
        assert "deleted /srv/report.txt" in json.dumps(decided["tool_call"])
        record = await ToolCall.objects.aget(pk=request.tool_call_id)
        assert record.status == ToolCall.Status.SUCCEEDED and record.attempts == 1
        assert "deleted /srv/report.txt" in json.dumps(record.result)
        assert await Run.objects.filter(conversation=convo, status=Run.Status.COMPLETED).acount() == 1
        assert "approvals.tasks.carry_out_decision" in worker.output()  # the worker did it, not us

        await asyncio.sleep(1.0)  # a second execution, had there been one, would have landed by now
        ran = _runs(events_file, "delete_file")
        assert len(ran) == 1, ran
        # It ran over a session the worker opened (a toy process it started), not this
        # process's session to the same server.
        assert ran[0]["ppid"] != os.getpid()
        assert ran[0]["arguments"] == {"path": "/srv/report.txt"}
        await socket.disconnect()
    finally:
        await asyncio.to_thread(mcp_source.manager.close)
