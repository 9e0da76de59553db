"""``/api/v1/tools``: the caller's tools, their schemas, and calls through the chat's pipeline."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group

from approvals.models import ApprovalRequest, PolicyRule, ToolPolicy
from tools import tool
from tools.models import Note, ToolCall
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


async def post(client, path: str, body) -> object:
    return await client.post(path, body, content_type="application/json")


async def limit_to_a_group(tool_name: str) -> None:
    """Only members of 'finance' may use the tool (alice is not one)."""
    group = await Group.objects.acreate(name="finance")
    policy = await ToolPolicy.objects.acreate(tool_name=tool_name)
    await sync_to_async(policy.allowed_groups.add)(group)


@pytest.fixture
def failing_tool():
    @tool
    def api_test_broken() -> str:
        """Always fail."""
        raise RuntimeError("the disk is on fire")

    registry.register(api_test_broken)
    yield api_test_broken
    registry.unregister(api_test_broken.name)


@pytest.fixture
def ping_tool():
    """A tool with its own rate limit, registered for one test."""

    @tool(rate_limit="1/m")
    def api_test_ping() -> str:
        """Answer pong."""
        return "pong"

    registry.register(api_test_ping)
    yield api_test_ping
    registry.unregister(api_test_ping.name)


async def test_the_list_has_every_tool_the_caller_may_use(api):
    response = await api.get("/api/v1/tools")
    assert response.status_code == 200
    items = {t["name"]: t for t in response.json()["items"]}
    assert set(items) == set(registry.names())
    assert items["delete_note"]["risk"] == "high"
    assert items["calculator"]["read_only"] is True
    assert items["calculator"]["parameters"] == registry.get("calculator").parameters


async def test_a_tool_limited_to_other_groups_is_not_listed(api):
    await limit_to_a_group("send_email")
    names = [t["name"] for t in (await api.get("/api/v1/tools")).json()["items"]]
    assert "send_email" not in names and "calculator" in names


@pytest.mark.parametrize("fmt,key", [("openai", "function"), ("anthropic", "input_schema"),
                                     ("responses", "parameters")])
async def test_the_schema_comes_in_each_providers_format(api, fmt, key):
    response = await api.get(f"/api/v1/tools/calculator/schema?format={fmt}")
    assert response.status_code == 200
    body = response.json()
    assert key in body
    if fmt == "anthropic":
        assert body == {"name": "calculator", "description": registry.get("calculator").description,
                        "input_schema": registry.get("calculator").parameters}


async def test_an_unknown_format_is_a_validation_error(api):
    response = await api.get("/api/v1/tools/calculator/schema?format=gemini")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"][0]["loc"] == ["query", "format"]


async def test_a_tool_the_caller_may_not_use_is_404_like_an_unknown_one(api):
    await limit_to_a_group("send_email")
    hidden = await api.get("/api/v1/tools/send_email/schema")
    unknown = await api.get("/api/v1/tools/launch_rockets/schema")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    called = await post(api, "/api/v1/tools/send_email/call", {"to": ["a@example.com"], "subject": "s",
                                                               "body": "b"})
    assert called.status_code == 404
    assert not await ToolCall.objects.filter(tool_name="send_email").aexists()


async def test_a_call_runs_through_the_pipeline_and_is_recorded(api, user):
    response = await post(api, "/api/v1/tools/calculator/call", {"expression": "6*7"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["result"]["result"] == 42 and body["error"] is None
    record = await ToolCall.objects.aget(pk=body["record_id"])
    assert record.user_id == user.pk and record.scope == {"source": "api"}
    assert record.status == ToolCall.Status.SUCCEEDED


async def test_a_call_uses_the_callers_identity(api, user):
    response = await post(api, "/api/v1/tools/create_note/call", {"text": "buy milk"})
    assert response.status_code == 200
    assert await Note.objects.filter(owner=user, text="buy milk").aexists()


async def test_invalid_arguments_are_422_with_the_structured_result(api):
    response = await post(api, "/api/v1/tools/calculator/call", {"expression": 5})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["status"] == "error"
    assert error["details"]["error"]["details"][0]["path"] == "expression"
    record = await ToolCall.objects.aget(pk=error["details"]["record_id"])
    assert record.status == ToolCall.Status.REJECTED


async def test_a_tool_that_fails_while_running_is_a_200_result_with_status_error(api, failing_tool):
    response = await post(api, "/api/v1/tools/api_test_broken/call", {})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error" and body["error"]["type"] == "execution_error"
    assert "the disk is on fire" in body["error"]["message"]


async def test_a_body_that_is_not_json_is_400_invalid_json(api):
    response = await post(api, "/api/v1/tools/calculator/call", "{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_a_body_that_is_not_an_object_is_422(api):
    response = await post(api, "/api/v1/tools/calculator/call", [1, 2])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_denying_rule_is_403_denied(api):
    policy = await ToolPolicy.objects.acreate(tool_name="calculator")
    await PolicyRule.objects.acreate(policy=policy, name="no big sums", argument="expression",
                                     operator=PolicyRule.Operator.CONTAINS, value="999",
                                     action=PolicyRule.Action.DENY)
    response = await post(api, "/api/v1/tools/calculator/call", {"expression": "999+1"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "denied" and "no big sums" in error["message"]


async def test_a_call_over_the_tools_rate_limit_is_429_with_retry_after(api, ping_tool):
    first = await post(api, "/api/v1/tools/api_test_ping/call", {})
    second = await post(api, "/api/v1/tools/api_test_ping/call", {})
    assert first.status_code == 200 and first.json()["result"] == "pong"
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(second["Retry-After"]) <= 60


async def test_a_call_over_the_administrators_rate_limit_is_429(api):
    await ToolPolicy.objects.acreate(tool_name="calculator", rate_limit="1/m")
    first = await post(api, "/api/v1/tools/calculator/call", {"expression": "1+1"})
    second = await post(api, "/api/v1/tools/calculator/call", {"expression": "1+1"})
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert second.json()["error"]["details"]["error"]["type"] == "denied"


async def test_a_high_risk_call_waits_for_approval_with_202(api, user):
    response = await post(api, "/api/v1/tools/delete_note/call", {"note_id": 7})
    assert response.status_code == 202
    body = response.json()
    approval = await ApprovalRequest.objects.aget(pk=body["approval_id"])
    assert approval.requester_id == user.pk and approval.tool_name == "delete_note"
    assert body["call"]["status"] == "pending" and body["call"]["record_id"] == approval.tool_call_id
    assert body["approval_url"] == f"/api/v1/approvals/{approval.pk}"
    assert body["call"]["error"]["type"] == "approval_required"
