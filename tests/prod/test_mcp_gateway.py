"""Toolgate as an MCP server in production mode: the wake-up of a waiting request crosses
processes through Redis.

Two Daphne processes on the production stores (PostgreSQL, channels-redis). The official
MCP client's ``tools/call`` is parked and held open on the first; the approver clicks
*Approve* in the admin served by the second, which carries the decision out. The open
request on the first process must then complete with the tool's result. Both processes
look at the call's record only every 120 s, and the result is awaited for at most 60 s: it
can only have arrived through the channel layer's message (Redis), not through a poll.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import ExitStack
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission

from approvals.models import ApprovalRequest, AuditEvent
from assistant.api import tokens
from tests.assistant.mcp.conftest import with_client
from tests.live import Daphne, session_cookie
from tests.prod.helpers import eventually
from tools.context import ToolContext
from tools.models import Note, ToolCall
from tools.pipeline import Pipeline, ToolCallRequest

pytestmark = pytest.mark.django_db(transaction=True)

SERVER_ENV = {"MCP_SERVER_POLL_SECONDS": "120", "MCP_SERVER_KEEPALIVE_SECONDS": "0.5",
              "APPROVALS_ALLOW_SELF_APPROVAL": "false"}


def _people(django_user_model: Any) -> tuple[Any, Any, str]:
    alice = django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return alice, django_user_model.objects.get(pk=bob.pk), session_cookie(bob)


async def test_an_approval_clicked_on_another_daphne_wakes_the_open_mcp_request_through_redis(
        django_user_model: Any, tmp_path: Any) -> None:
    alice, bob, cookie = await sync_to_async(_people)(django_user_model)
    secret = (await sync_to_async(tokens.create)(alice, "agent")).secret
    note = await Note.objects.acreate(owner=alice, text="old plan")
    with ExitStack() as running:
        waiting_on, deciding_on = [Daphne(tmp_path / f"daphne{i}.log", **SERVER_ENV) for i in range(2)]
        for server in (waiting_on, deciding_on):
            running.callback(server.stop)
            await asyncio.to_thread(server.start)

        async def call(client: Any) -> Any:
            return await client.call_tool("delete_note", {"note_id": note.pk})

        open_request = asyncio.ensure_future(with_client(waiting_on.url, secret, call))
        pending = ApprovalRequest.objects.filter(tool_name="delete_note", status="pending")
        request = await eventually(pending.afirst, what="the call to be parked")
        await asyncio.sleep(1.0)  # keep-alives flow; nothing is decided yet
        assert not open_request.done()

        name, _, value = cookie.partition("=")
        async with httpx2.AsyncClient(base_url=deciding_on.url, cookies={name: value}, timeout=30) as admin:
            page = await admin.get(f"/admin/approvals/approvalrequest/{request.pk}/change/")
            assert page.status_code == 200, page.text[:2000]
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
            decided = await admin.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/",
                                       data={"csrfmiddlewaretoken": csrf, "decision": "approve"},
                                       headers={"Referer": f"{deciding_on.url}/admin/"})
            assert decided.status_code == 302, decided.text[:2000]

        try:
            result = await asyncio.wait_for(open_request, 60)  # the poll would take 120 s
        except TimeoutError:
            raise AssertionError("the open request was not woken through Redis:\n"
                                 + waiting_on.output()[-3000:] + deciding_on.output()[-3000:]) from None

    assert result.is_error is not True
    assert result.structured_content == {"deleted": True, "id": note.pk, "text": "old plan"}
    assert result.meta["toolgate/approvalId"] == request.pk
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.SUCCEEDED
    assert not await Note.objects.filter(pk=note.pk).aexists()
    assert await AuditEvent.objects.filter(tool_call_id=record.pk, kind="call.succeeded").acount() == 1


async def test_a_decision_carried_out_while_the_open_request_subscribes_still_wakes_it(
        django_user_model: Any, settings: Any, monkeypatch: Any) -> None:
    """The waiting request looks at the record, then subscribes to the call's group on Redis.
    Another process settles the call and announces it in between (forced here: the
    subscription waits until both are done, and the waiting request's first look ran before
    them on the ORM's one thread). The request must still complete at once, not at its next
    poll (120 s)."""
    from channels.layers import get_channel_layer

    from assistant.mcp import waiting

    settings.MCP_SERVER_POLL_SECONDS = 120
    alice = await sync_to_async(django_user_model.objects.create_user)("alice", "a@example.com", "pw-a-123")
    note = await Note.objects.acreate(owner=alice, text="plan")
    parked = await Pipeline().call(ToolCallRequest("delete_note", {"note_id": note.pk}),
                                   ToolContext(user=alice, scope={}))
    assert parked.status == "pending", parked
    layer = get_channel_layer()
    subscribe = layer.group_add

    async def subscribe_after_the_decision(name: str, channel: str) -> None:
        # What another process does: settle the record, then announce it through Redis
        # (not waiting.wake, whose in-process half would wake the request by itself).
        await Pipeline().deny_pending(parked.record_id, "not now", rule="approval:denied")
        await layer.group_send(waiting.group(parked.record_id),
                               {"type": "mcp.settled", "record": parked.record_id})
        await subscribe(name, channel)

    monkeypatch.setattr(layer, "group_add", subscribe_after_the_decision)

    async def keepalive(seconds: float) -> None:
        pass

    record = await asyncio.wait_for(waiting.wait_settled(parked.record_id, keepalive), 30)
    assert record.status == ToolCall.Status.DENIED
    assert record.gate_rule == "approval:denied"
