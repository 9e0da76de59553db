"""``/api/v1/approvals/{id}`` and ``/api/v1/tool-calls``: only the caller's (or an approver's) view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from approvals import dispatch, services
from tests.api.conftest import bearer
from tests.approvals.helpers import make_approver
from tools.models import Note, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


async def call(client, name: str, arguments: dict) -> dict:
    response = await client.post(f"/api/v1/tools/{name}/call", arguments, content_type="application/json")
    return response.json()


@pytest.fixture
async def approver(django_user_model):
    return await sync_to_async(make_approver)(django_user_model)


@pytest.fixture
async def approver_api(approver):
    from assistant.api import tokens

    return bearer((await sync_to_async(tokens.create)(approver, "approver")).secret)


async def test_a_pending_approval_is_visible_to_its_requester(api):
    note = await call(api, "create_note", {"text": "old plan"})
    parked = await call(api, "delete_note", {"note_id": note["result"]["id"]})
    response = await api.get(f"/api/v1/approvals/{parked['approval_id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending" and body["call_status"] == "pending"
    assert body["tool"] == "delete_note" and body["arguments"] == {"note_id": note["result"]["id"]}
    assert body["result"] is None and body["decided_by"] is None


async def test_an_approved_call_shows_its_result_once_it_ran(api, user, approver):
    note = await call(api, "create_note", {"text": "old plan"})
    parked = await call(api, "delete_note", {"note_id": note["result"]["id"]})
    await sync_to_async(services.decide)(parked["approval_id"], approver, services.APPROVE)
    await dispatch.wait_idle()
    body = (await api.get(f"/api/v1/approvals/{parked['approval_id']}")).json()
    assert body["status"] == "approved" and body["decided_by"] == "bob"
    assert body["call_status"] == "succeeded"
    assert body["result"]["status"] == "ok" and body["result"]["result"]["deleted"] is True
    assert not await Note.objects.filter(owner=user).aexists()


async def test_a_denied_call_shows_the_reason_and_a_denied_result(api, approver):
    parked = await call(api, "delete_note", {"note_id": 3})
    await sync_to_async(services.decide)(parked["approval_id"], approver, services.DENY, reason="keep it")
    await dispatch.wait_idle()
    body = (await api.get(f"/api/v1/approvals/{parked['approval_id']}")).json()
    assert body["status"] == "denied" and body["reason"] == "keep it"
    assert body["result"]["status"] == "error" and body["result"]["error"]["type"] == "denied"


async def test_another_users_approval_is_404(api, other_api):
    parked = await call(api, "delete_note", {"note_id": 3})
    response = await other_api.get(f"/api/v1/approvals/{parked['approval_id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_an_approver_may_see_anyones_approval(api, approver_api):
    parked = await call(api, "delete_note", {"note_id": 3})
    response = await approver_api.get(f"/api/v1/approvals/{parked['approval_id']}")
    assert response.status_code == 200 and response.json()["id"] == parked["approval_id"]


async def test_an_unknown_approval_is_404(api):
    assert (await api.get("/api/v1/approvals/999999")).status_code == 404
    assert (await api.get(f"/api/v1/approvals/{2**70}")).status_code == 404


async def test_the_history_lists_the_callers_calls_newest_first_with_a_total(api, other_api):
    await call(api, "calculator", {"expression": "1+1"})
    await call(api, "calculator", {"expression": 5})
    await call(api, "delete_note", {"note_id": 3})
    await call(other_api, "calculator", {"expression": "3+3"})
    body = (await api.get("/api/v1/tool-calls")).json()
    assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
    assert [i["status"] for i in body["items"]] == ["pending", "rejected", "succeeded"]
    assert all(i["source"] == "api" for i in body["items"])
    assert body["items"][0]["approval_id"] is not None and body["items"][2]["approval_id"] is None
    assert body["items"][2]["result"]["result"] == 2


async def test_the_history_filters_by_tool_status_and_time(api, user):
    await call(api, "calculator", {"expression": "1+1"})
    await call(api, "calculator", {"expression": 5})
    await call(api, "create_note", {"text": "x"})
    old = await ToolCall.objects.filter(tool_name="create_note").aget()
    old.created_at = timezone.now() - timedelta(days=2)
    await old.asave()
    by_tool = (await api.get("/api/v1/tool-calls?tool=calculator")).json()
    assert by_tool["total"] == 2 and {i["tool"] for i in by_tool["items"]} == {"calculator"}
    by_status = (await api.get("/api/v1/tool-calls?status=rejected")).json()
    assert by_status["total"] == 1 and by_status["items"][0]["status"] == "rejected"
    since = (timezone.now() - timedelta(days=1)).isoformat()
    recent = await api.get("/api/v1/tool-calls", {"since": since})
    assert recent.json()["total"] == 2 and "create_note" not in {i["tool"] for i in recent.json()["items"]}


async def test_the_history_is_paginated(api):
    for n in range(5):
        await call(api, "calculator", {"expression": f"{n}+0"})
    page = (await api.get("/api/v1/tool-calls?limit=2&offset=1")).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [i["arguments"]["expression"] for i in page["items"]] == ["3+0", "2+0"]


async def test_an_unknown_status_filter_is_a_validation_error(api):
    response = await api.get("/api/v1/tool-calls?status=exploded")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["query", "status"]


@pytest.mark.parametrize("since", ["0.5", "2025-01-31T12:00:00", "2025-01-31", "yesterday"])
async def test_since_must_be_a_date_time_with_its_offset(api, since):
    response = await api.get("/api/v1/tool-calls", {"since": since})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["query", "since"]
