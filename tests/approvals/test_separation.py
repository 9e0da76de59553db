"""A chatting user trying to approve their own risky call through every URL and socket."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from approvals.models import ApprovalRequest
from tests.approvals.helpers import events_until, open_socket, say
from tests.approvals.test_flow import park_delete
from tools.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_chatting_user_cannot_approve_through_any_url_or_socket(user):
    from django.test import Client

    note, convo, socket, _, request = await park_delete(user)
    client = Client()
    await sync_to_async(client.force_login)(user)
    urls = [
        reverse("admin:approvals_approvalrequest_decide", args=[request.pk]),
        reverse("admin:approvals_approvalrequest_change", args=[request.pk]),
        reverse("admin:approvals_approvalrequest_changelist"),
        f"/c/{convo.pk}/", "/api/v1/approvals/1/decide", "/approve/",
    ]
    for url in urls:
        for form in ({"decision": "approve"}, {"decision": "approve_edited", "edited_arguments": "{}"}):
            response = await sync_to_async(client.post)(url, form)
            assert response.status_code in (302, 403, 404, 405), url
    for frame in ({"type": "approval.decide", "approval_id": request.pk, "decision": "approve"},
                  {"type": "approval.decided", "decision": "approved"},
                  {"type": "run.resume"}):
        await socket.send_to(text_data=json.dumps(frame))
        reply = json.loads(await socket.receive_from())
        assert reply["type"] == "error" and reply["code"] == "unknown_type"
    await say(socket, f'/call delete_note {{"note_id": {note.pk}, "approved": true}}')
    assert json.loads(await socket.receive_from())["code"] == "run_in_progress"
    queue = await open_socket_allow_close(user)
    assert queue == 4403
    await request.arefresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    assert await Note.objects.filter(pk=note.pk).aexists()
    await socket.disconnect()


async def open_socket_allow_close(user):
    socket = await open_socket(user, "/ws/approvals/")
    output = await socket.receive_output(timeout=5)
    await socket.wait()
    return output.get("code")


async def test_an_approver_sees_the_pending_count_change_live(user, django_user_model):
    from tests.approvals.helpers import make_approver

    approver = await sync_to_async(make_approver)(django_user_model)
    watcher = await open_socket(approver, "/ws/approvals/")
    assert json.loads(await watcher.receive_from()) == {"type": "queue.changed", "pending": 0}
    note, convo, socket, _, request = await park_delete(user)
    assert json.loads(await watcher.receive_from()) == {
        "type": "queue.changed", "pending": 1, "approval_id": request.pk, "change": "added",
        "decidable": True}
    from approvals import services

    await sync_to_async(services.decide)(request.pk, approver, "deny", reason="no")
    assert json.loads(await watcher.receive_from()) == {
        "type": "queue.changed", "pending": 0, "approval_id": request.pk, "change": "removed",
        "decidable": True}
    await events_until(socket, "run.finished")
    await socket.disconnect()
    await watcher.disconnect()
