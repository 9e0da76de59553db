"""The approvers' socket (approvals/consumers.py): a doorbell that rings only for approvers,
says whether the ringing request is theirs to decide, and never carries its content."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission

from approvals import notify
from tests.approvals.helpers import make_approver, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_approvers_own_request_rings_as_not_theirs_to_decide(django_user_model, settings):
    settings.APPROVALS_ALLOW_SELF_APPROVAL = False
    approver = await sync_to_async(make_approver)(django_user_model)
    socket = await open_socket(approver, "/ws/approvals/")
    assert json.loads(await socket.receive_from()) == {"type": "queue.changed", "pending": 0}
    await sync_to_async(notify.pending_changed)(41, notify.ADDED, approver.pk)
    frame = json.loads(await socket.receive_from())
    assert frame == {"type": "queue.changed", "pending": 0, "approval_id": 41, "change": "added",
                     "decidable": False}
    assert "requester_id" not in frame
    await sync_to_async(notify.pending_changed)(42, notify.ADDED, approver.pk + 1)
    assert json.loads(await socket.receive_from())["decidable"] is True
    await socket.disconnect()


async def test_one_person_deployments_may_decide_their_own(django_user_model, settings):
    settings.APPROVALS_ALLOW_SELF_APPROVAL = True
    approver = await sync_to_async(make_approver)(django_user_model)
    socket = await open_socket(approver, "/ws/approvals/")
    await socket.receive_from()
    await sync_to_async(notify.pending_changed)(41, notify.ADDED, approver.pk)
    assert json.loads(await socket.receive_from())["decidable"] is True
    await socket.disconnect()


@pytest.mark.parametrize("who", ["chatting user", "staff who may only view"])
async def test_a_non_approvers_socket_is_closed_and_receives_nothing(django_user_model, who):
    person = await sync_to_async(django_user_model.objects.create_user)(
        "vic", "v@example.com", "pw-viewer-123", is_staff=who != "chatting user")
    if who != "chatting user":
        view = await Permission.objects.aget(codename="view_approvalrequest")
        await sync_to_async(person.user_permissions.add)(view)
    socket = await open_socket(person, "/ws/approvals/")
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await sync_to_async(notify.pending_changed)(7, notify.ADDED, None)
    assert await socket.receive_nothing(timeout=0.5)


async def test_the_socket_refuses_to_take_orders(django_user_model):
    approver = await sync_to_async(make_approver)(django_user_model)
    socket = await open_socket(approver, "/ws/approvals/")
    await socket.receive_from()
    await socket.send_to(text_data=json.dumps({"type": "approval.decide", "approval_id": 1}))
    assert json.loads(await socket.receive_from())["code"] == "read_only"
    await socket.disconnect()
