"""MCP tools through the real pipeline: policy, approval, audit records, timeouts, result caps
(tools.pipeline with tools.mcp), against the toy server over stdio."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Group

from approvals.models import ApprovalRequest, AuditEvent, ToolPolicy
from tests.tools.mcp.conftest import FAST, connect, events, eventually, toy_spec
from tools.context import ToolContext
from tools.mcp.manager import Manager
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import registry as global_registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def toy(manager):
    spec = toy_spec()
    async_to_sync(connect)(manager, spec)
    return spec


@pytest.fixture
def pipeline(manager, toy):
    return Pipeline(manager.registry)


async def call(pipeline, name, arguments, user, call_id="c1"):
    return await pipeline.call(ToolCallRequest(name, json.dumps(arguments), call_id), ToolContext(user=user))


async def test_a_read_only_tool_runs_at_once_and_is_recorded(pipeline, toy, user):
    result = await call(pipeline, "toy__echo", {"text": "hello"}, user)
    assert result.ok and result.output == "hello"
    record = await ToolCall.objects.aget(pk=result.record_id)
    assert (record.tool_name, record.risk, record.status) == ("toy__echo", "low", "succeeded")
    rows = AuditEvent.objects.filter(tool_call_id=record.pk).order_by("seq").values_list("kind", flat=True)
    kinds = [kind async for kind in rows]
    assert kinds == ["call.proposed", "call.validated", "policy.decided", "call.started", "call.succeeded"]


async def test_arguments_are_validated_against_the_servers_schema_before_anything_runs(pipeline, toy, user):
    result = await call(pipeline, "toy__echo", {"text": 5}, user)
    assert result.error.type == "validation_error" and result.error.details[0]["path"] == "text"
    assert not [e for e in events(toy) if e["tool"] == "echo"]


async def test_a_destructive_tool_is_parked_and_runs_exactly_once_when_approved(pipeline, toy, user):
    parked = await call(pipeline, "toy__delete_file", {"path": "/tmp/x"}, user)
    assert parked.status == "pending" and parked.error.type == "approval_required"
    assert not [e for e in events(toy) if e["tool"] == "delete_file"]  # nothing ran yet
    ctx = ToolContext(user=user)
    first, second = await asyncio.gather(pipeline.run_approved(parked.record_id, ctx),
                                         pipeline.run_approved(parked.record_id, ctx))
    assert {first.status, second.status} <= {"ok", "running"} and "ok" in {first.status, second.status}
    ran = [e for e in events(toy) if e["tool"] == "delete_file"]
    assert len(ran) == 1 and ran[0]["arguments"] == {"path": "/tmp/x"}
    assert (await ToolCall.objects.aget(pk=parked.record_id)).result == "deleted /tmp/x"


async def test_a_denied_destructive_call_never_reaches_the_server(pipeline, toy, user):
    parked = await call(pipeline, "toy__delete_file", {"path": "/etc"}, user)
    denied = await pipeline.deny_pending(parked.record_id, "not today")
    assert denied.status == "error" and denied.error.type == "denied"
    again = await pipeline.run_approved(parked.record_id, ToolContext(user=user))
    assert again.status == "error"
    assert not [e for e in events(toy) if e["tool"] == "delete_file"]


async def test_an_administrators_policy_wins_over_the_servers_hints(pipeline, toy, user):
    await ToolPolicy.objects.acreate(tool_name="toy__echo", approval=ToolPolicy.Approval.ALWAYS)
    parked = await call(pipeline, "toy__echo", {"text": "hi"}, user)
    assert parked.status == "pending"
    await ToolPolicy.objects.acreate(tool_name="toy__delete_file", approval=ToolPolicy.Approval.NEVER)
    ran = await call(pipeline, "toy__delete_file", {"path": "p"}, user, call_id="c2")
    assert ran.ok


async def test_a_tool_limited_to_a_group_is_neither_offered_nor_run_for_others(manager, user, other_user):
    from tools.gate import aavailable_tools

    staff = await Group.objects.acreate(name="staff")
    await user.groups.aadd(staff)
    await connect(manager, toy_spec("toy", group_ids=frozenset({staff.pk})))
    pipeline = Pipeline(manager.registry)
    mine = {t.name for t in await aavailable_tools(user, manager.registry)}
    theirs = {t.name for t in await aavailable_tools(other_user, manager.registry)}
    assert "toy__echo" in mine and not any(name.startswith("toy__") for name in theirs)
    refused = await call(pipeline, "toy__echo", {"text": "hi"}, other_user)
    assert refused.error.type == "permission_denied"
    assert (await call(pipeline, "toy__echo", {"text": "hi"}, user, call_id="c2")).ok


async def test_is_error_becomes_a_tool_error_the_model_sees(pipeline, user):
    result = await call(pipeline, "toy__fail", {}, user)
    assert result.status == "error" and result.error.type == "execution_error"
    assert "the disk is full" in result.error.message
    assert (await ToolCall.objects.aget(pk=result.record_id)).status == "failed"


async def test_images_and_resources_are_described_not_dropped(pipeline, user):
    result = await call(pipeline, "toy__media", {}, user)
    out = result.output
    assert out["text"] == "here you are" and out["structured"] == {"answer": 42}
    image, resource = out["content"]
    assert image["type"] == "image" and image["mime_type"] == "image/png" and image["bytes"] == 100
    assert resource == {"type": "resource", "uri": "file:///notes.txt", "mime_type": "text/plain",
                        "text": "resource text"}


async def test_a_huge_result_is_cut_to_the_result_cap(pipeline, user, settings):
    settings.TOOLS_MAX_RESULT_CHARS = 5000
    result = await call(pipeline, "toy__huge", {"chars": 3_000_000}, user)
    assert result.ok and result.truncated and result.output["truncated"] is True
    assert len(result.output["content"]) < 6000
    record = await ToolCall.objects.aget(pk=result.record_id)
    assert record.truncated and len(json.dumps(record.result)) < 7000


async def test_a_slow_server_hits_its_timeout_and_is_told_to_cancel(manager, user, clean_workdirs):
    spec = toy_spec("slowpoke", timeout=0.5)
    await connect(manager, spec)
    result = await call(Pipeline(manager.registry), "slowpoke__slow", {"seconds": 30}, user)
    assert result.error.type == "timeout" and "0.5 s" in result.error.message
    # notifications/cancelled reached the server: its handler was cancelled
    await eventually(lambda: any(e.get("cancelled") for e in events(spec)))
    assert (await ToolCall.objects.aget(pk=result.record_id)).status == "failed"


async def test_cancelling_the_caller_cancels_the_request_on_the_server(pipeline, toy, user):
    task = asyncio.create_task(call(pipeline, "toy__slow", {"seconds": 30}, user))
    await eventually(lambda: any(e["tool"] == "slow" for e in events(toy)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: any(e.get("cancelled") for e in events(toy)))
    record = await ToolCall.objects.aget(call_id="c1")
    assert record.status == "failed" and "cancelled" in record.error["message"]


async def test_a_server_that_crashes_mid_call_fails_that_call_and_is_reconnected(pipeline, toy, manager,
                                                                                 user):
    result = await call(pipeline, "toy__crash", {}, user)
    crashed_at = datetime.now(UTC)
    assert result.status == "error" and result.error.type == "execution_error"
    assert "closed the connection" in result.error.message or "not connected" in result.error.message
    assert len([e for e in events(toy) if e["tool"] == "crash"]) == 1  # never retried
    # A new session: connected *since* the crash (the old state may not have noticed it yet).
    await eventually(lambda: manager.status("toy").state == "connected"
                     and manager.status("toy").last_contact > crashed_at
                     and "toy__echo" in manager.registry)
    assert (await call(pipeline, "toy__echo", {"text": "back"}, user, call_id="c2")).output == "back"


async def test_an_approved_call_runs_through_the_approval_service_exactly_once(clean_workdirs, user,
                                                                              django_user_model):
    from approvals import services
    from tests.approvals.helpers import make_approver

    manager = Manager(global_registry, tuning=FAST)
    try:
        spec = toy_spec("gtoy")
        await connect(manager, spec)
        parked = await call(Pipeline(), "gtoy__delete_file", {"path": "/srv/a"}, user)
        request = await ApprovalRequest.objects.aget(tool_call_id=parked.record_id)
        approver = await sync_to_async(make_approver)(django_user_model)
        await sync_to_async(services.decide)(request.pk, approver, services.APPROVE)
        await eventually(
            lambda: ToolCall.objects.get(pk=parked.record_id).status == "succeeded")
        assert len([e for e in events(spec) if e["tool"] == "delete_file"]) == 1
    finally:
        await asyncio.to_thread(manager.close)


async def test_a_tool_policys_groups_limit_one_tool_of_a_server(pipeline, toy, user, other_user):
    from tools.gate import aavailable_tools

    ops = await Group.objects.acreate(name="ops")
    await user.groups.aadd(ops)
    policy = await ToolPolicy.objects.acreate(tool_name="toy__delete_file")
    await policy.allowed_groups.aadd(ops)
    theirs = {t.name for t in await aavailable_tools(other_user, pipeline.registry)}
    assert "toy__delete_file" not in theirs and "toy__echo" in theirs
    refused = await call(pipeline, "toy__delete_file", {"path": "p"}, other_user)
    assert refused.error.type == "permission_denied"
    assert not [e for e in events(toy) if e["tool"] == "delete_file"]


async def test_the_record_is_committed_before_the_request_reaches_the_server(pipeline, toy, user):
    # The database thread sends the request once the record is committed (one hand-over
    # fewer); the server must never see a call that has no record yet.
    task = asyncio.create_task(call(pipeline, "toy__slow", {"seconds": 1.5}, user, call_id="early"))
    await eventually(lambda: any(e["tool"] == "slow" for e in events(toy)))
    seen = await ToolCall.objects.aget(call_id="early")
    assert seen.status == "running"
    kinds = [e.kind async for e in AuditEvent.objects.filter(tool_call_id=seen.pk).order_by("seq")]
    assert kinds[-1] == "call.started"
    result = await task
    assert result.ok
    assert (await ToolCall.objects.aget(call_id="early")).status == "succeeded"
    assert len([e for e in events(toy) if e["tool"] == "slow"]) == 1
