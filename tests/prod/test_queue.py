"""The live approval queue across processes: a request parked by this server and expired by
a Celery worker (beat) rings the approvers' sockets through the Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from approvals.models import ApprovalRequest
from assistant.models import Conversation
from tests.approvals.helpers import make_approver, open_socket, say
from tests.prod.helpers import events_until
from tools.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


async def next_ring(socket) -> dict:
    return json.loads(await socket.receive_from(timeout=60))


async def test_a_request_expired_by_the_worker_leaves_the_approvers_queue(user, django_user_model,
                                                                         services):
    approver = await sync_to_async(make_approver)(django_user_model)
    queue = await open_socket(approver, "/ws/approvals/")
    assert await next_ring(queue) == {"type": "queue.changed", "pending": 0}

    await services("worker")  # it drives the run (production mode) and later expires the request
    note = await Note.objects.acreate(owner=user, text="buy milk")
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    chat = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(chat, f"delete note {note.pk}")
    await events_until(chat, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="delete_note")
    assert await next_ring(queue) == {"type": "queue.changed", "pending": 1, "approval_id": request.pk,
                                      "change": "added", "decidable": True}

    await ApprovalRequest.objects.filter(pk=request.pk).aupdate(expires_at=timezone.now())
    await services("beat", APPROVALS_EXPIRY_CHECK_SECONDS=1)
    assert await next_ring(queue) == {"type": "queue.changed", "pending": 0, "approval_id": request.pk,
                                      "change": "removed", "decidable": True}
    await events_until(chat, "run.finished")
    await chat.disconnect()
    await queue.disconnect()
