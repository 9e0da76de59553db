"""Celery beat in production mode: stale approval requests expire and their runs go on."""

from __future__ import annotations

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from assistant.models import Conversation
from tests.approvals.helpers import open_socket, say
from tests.prod.helpers import events_until
from tools.models import Note, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


async def test_beat_expires_a_stale_request_and_the_run_continues_with_a_denied_result(user, services):
    await services("worker")  # drives the run (production mode: runs live in workers)
    note = await Note.objects.acreate(owner=user, text="buy milk")
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, f"delete note {note.pk}")
    await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="delete_note")
    await ApprovalRequest.objects.filter(pk=request.pk).aupdate(expires_at=timezone.now())

    await services("beat", APPROVALS_EXPIRY_CHECK_SECONDS=1)
    after = await events_until(socket, "run.finished")

    decided = next(e for e in after if e["type"] == "approval.decided")
    assert decided["decision"] == "expired"
    assert decided["tool_call"]["error"]["type"] == "denied"
    assert after[-1]["run"]["status"] == "completed"
    await request.arefresh_from_db()
    assert request.status == ApprovalRequest.Status.EXPIRED
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.DENIED
    assert await Note.objects.filter(pk=note.pk).aexists()
    await socket.disconnect()
