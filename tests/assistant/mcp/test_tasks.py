"""MCP tasks (2025-11-25): a task-augmented call answers at once; the outcome is fetched later.

The official client sends the task methods with its own ``send_request`` and the SDK's task
types. Its typed ``call_tool`` cannot carry ``task`` (it checks every ``tools/call`` answer
against ``CallToolResult``, and a task answer is a ``CreateTaskResult``), so the augmented
call goes through the same client session's JSON-RPC dispatcher (:func:`call_as_task`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from approvals import services
from approvals.models import ApprovalRequest, AuditEvent
from assistant.api import tokens
from tests.assistant.mcp.conftest import SERVER_ENV, with_client
from tests.assistant.mcp.test_approval import _headers, parked
from tests.live import Daphne
from tools.models import Note, ToolCall


async def call_as_task(client: Any, name: str, arguments: dict[str, Any], ttl: int | None = None
                       ) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments, "task": {} if ttl is None else {"ttl": ttl}}
    return await client.session._dispatcher.send_raw_request("tools/call", params, {})


async def get_task(client: Any, task_id: str) -> types.GetTaskResult:
    return await client.session.send_request(
        types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)), types.GetTaskResult)


async def task_result(client: Any, task_id: str) -> types.CallToolResult:
    return await client.session.send_request(
        types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
        types.CallToolResult)


async def cancel_task(client: Any, task_id: str) -> types.CancelTaskResult:
    return await client.session.send_request(
        types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task_id)),
        types.CancelTaskResult)


async def list_tasks(client: Any) -> types.ListTasksResult:
    return await client.session.send_request(types.ListTasksRequest(), types.ListTasksResult)


def run(background: Any, url: str, secret: str, use: Any, **kwargs: Any) -> Any:
    return background.run(with_client(url, secret, use, **kwargs))


def test_the_server_offers_tasks_for_tool_calls(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        return client.session.server_capabilities, await client.list_tools()

    capabilities, listed = run(background, live.url, secret, use)
    assert capabilities.tasks.requests.tools.call is not None
    assert capabilities.tasks.list is not None and capabilities.tasks.cancel is not None
    assert {t.name: t.execution.task_support for t in listed.tools}["delete_note"] == "optional"


def test_a_parked_call_is_a_task_at_once_and_its_result_is_fetched_after_approval_from_another_process(
        mcp_servers: list[Any], secret: str, alice: Any, approver: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="old plan")

    async def create(client: Any) -> Any:
        return await call_as_task(client, "delete_note", {"note_id": note.pk}, ttl=60_000)

    created = run(background, mcp_servers[0].url, secret, create)  # and the client disconnects
    task = types.CreateTaskResult.model_validate(created).task
    assert task.status == "working" and "approver" in task.status_message
    assert task.ttl == 60_000 and task.poll_interval is not None
    request = parked()
    assert request.status == ApprovalRequest.Status.PENDING
    assert request.tool_call.scope["mcp"]["task"] == {"id": task.task_id, "ttl": 60_000}
    assert Note.objects.filter(pk=note.pk).exists()

    async def look(client: Any) -> Any:
        return await get_task(client, task.task_id)

    assert run(background, mcp_servers[1].url, secret, look).status == "working"
    services.decide(request.pk, approver, services.APPROVE)

    async def fetch(client: Any) -> Any:
        return await get_task(client, task.task_id), await task_result(client, task.task_id)

    got, result = run(background, mcp_servers[1].url, secret, fetch)
    assert got.status == "completed"
    assert result.is_error is not True
    assert result.structured_content == {"deleted": True, "id": note.pk, "text": "old plan"}
    assert result.meta["io.modelcontextprotocol/related-task"] == {"taskId": task.task_id}
    assert result.meta["toolgate/approvalId"] == request.pk
    assert not Note.objects.filter(pk=note.pk).exists()
    assert AuditEvent.objects.filter(tool_call_id=request.tool_call_id, kind="call.succeeded").count() == 1


def test_tasks_result_waits_on_the_open_request_until_the_decision(
        live: Any, secret: str, alice: Any, approver: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="wait for it")
    progress: list[Any] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async def use(client: Any) -> Any:
        created = types.CreateTaskResult.model_validate(
            await call_as_task(client, "delete_note", {"note_id": note.pk}))
        return await client.session.send_request(
            types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=created.task.task_id)),
            types.CallToolResult, progress_callback=on_progress)

    future = background.start(with_client(live.url, secret, use))
    request = parked()
    time.sleep(1.0)
    assert not future.done()
    services.decide(request.pk, approver, services.DENY, reason="not today")
    result = future.result(60)
    assert result.is_error is True and "not today" in result.content[0].text
    assert result.structured_content["decision"] == {"status": "denied", "reason": "not today",
                                                      "decided_by": "bob"}
    assert progress and "waiting for an approver" in progress[0]
    assert Note.objects.filter(pk=note.pk).exists()

    task_id = ToolCall.objects.get(pk=request.tool_call_id).scope["mcp"]["task"]["id"]

    async def look(client: Any) -> Any:
        return await get_task(client, task_id)

    assert run(background, live.url, secret, look).status == "failed"


def test_tasks_cancel_cancels_a_waiting_call_once_and_is_audited(
        live: Any, secret: str, alice: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="stays")

    async def use(client: Any) -> Any:
        created = types.CreateTaskResult.model_validate(
            await call_as_task(client, "delete_note", {"note_id": note.pk}))
        cancelled = await cancel_task(client, created.task.task_id)
        with pytest.raises(MCPError) as again:
            await cancel_task(client, created.task.task_id)
        result = await task_result(client, created.task.task_id)
        return cancelled, again.value, result, await get_task(client, created.task.task_id)

    cancelled, again, result, got = run(background, live.url, secret, use)
    assert cancelled.status == "cancelled" and got.status == "cancelled"
    assert again.error.code == -32602 and "already cancelled" in again.error.message
    assert result.is_error is True and "cancelled the task" in result.content[0].text
    request = ApprovalRequest.objects.get(tool_name="delete_note")
    assert request.status == ApprovalRequest.Status.CANCELLED
    assert ToolCall.objects.get(pk=request.tool_call_id).status == ToolCall.Status.DENIED
    decided = AuditEvent.objects.get(tool_call_id=request.tool_call_id, kind="approval.decided")
    assert decided.outcome == "cancelled" and decided.data["reason"] == "the MCP client cancelled the task"
    assert Note.objects.filter(pk=note.pk).exists()


def test_another_token_cannot_read_list_or_cancel_a_task(
        live: Any, secret: str, alice: Any, other_user: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="mine")

    async def create(client: Any) -> Any:
        return types.CreateTaskResult.model_validate(
            await call_as_task(client, "delete_note", {"note_id": note.pk})).task

    task = run(background, live.url, secret, create)
    for stranger in (tokens.create(other_user, "hostile").secret, tokens.create(alice, "second").secret):
        async def attack(client: Any) -> Any:
            errors = []
            for method in (get_task, task_result, cancel_task):
                with pytest.raises(MCPError) as refused:
                    await method(client, task.task_id)
                errors.append(refused.value.error)
            return errors, await list_tasks(client)

        errors, listed = run(background, live.url, stranger, attack)
        assert all(e.code == -32602 and e.message.startswith("Task not found") for e in errors)
        assert listed.tasks == []

    async def own(client: Any) -> Any:
        return await list_tasks(client)

    assert [t.task_id for t in run(background, live.url, secret, own).tasks] == [task.task_id]
    request = ApprovalRequest.objects.get(tool_name="delete_note")
    assert request.status == ApprovalRequest.Status.PENDING  # nobody else cancelled it


def test_a_call_that_runs_at_once_is_a_completed_task(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        task = types.CreateTaskResult.model_validate(
            await call_as_task(client, "calculator", {"expression": "6*7"})).task
        return task, await task_result(client, task.task_id)

    task, result = run(background, live.url, secret, use)
    assert task.status == "completed"
    assert result.structured_content["result"] == 42
    assert ToolCall.objects.get(tool_name="calculator").scope["mcp"]["task"]["id"] == task.task_id


def test_an_unknown_tool_as_a_task_is_refused_and_leaves_no_task(live: Any, secret: str,
                                                                 background: Any) -> None:
    async def use(client: Any) -> Any:
        with pytest.raises(MCPError) as refused:
            await call_as_task(client, "format_disk", {})
        return refused.value.error, await list_tasks(client)

    error, listed = run(background, live.url, secret, use)
    assert error.code == -32602 and "Unknown tool" in error.message
    assert listed.tasks == [] and not ToolCall.objects.exists()


def test_an_unknown_task_id_is_an_error(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        with pytest.raises(MCPError) as refused:
            await get_task(client, "no-such-task")
        return refused.value.error

    message = run(background, live.url, secret, use).message
    assert message == "Task not found: no task 'no-such-task' for this token."


def test_a_task_outlives_the_process_that_created_it(
        live: Any, secret: str, alice: Any, approver: Any, background: Any, tmp_path: Any) -> None:
    note = Note.objects.create(owner=alice, text="survives")
    with Daphne(tmp_path / "short-lived.log", **SERVER_ENV) as short_lived:
        async def create(client: Any) -> Any:
            return types.CreateTaskResult.model_validate(
                await call_as_task(client, "delete_note", {"note_id": note.pk})).task

        task = run(background, short_lived.url, secret, create)
        request = parked()
    assert short_lived.process is not None and short_lived.process.poll() is not None  # it is gone
    services.decide(request.pk, approver, services.APPROVE)

    async def fetch(client: Any) -> Any:
        return await task_result(client, task.task_id)

    assert run(background, live.url, secret, fetch).structured_content["id"] == note.pk


def test_tasks_methods_do_not_exist_on_the_2026_revision(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        with pytest.raises(MCPError) as refused:
            await client.session.send_request(types.ListTasksRequest(), types.ListTasksResult)
        return refused.value.error

    assert run(background, live.url, secret, use, mode="2026-07-28").code == -32601


def test_malformed_task_requests_are_protocol_errors_and_run_nothing(live: Any, secret: str,
                                                                    background: Any) -> None:
    async def use(client: Any) -> Any:
        errors = []
        for params in ({"name": "calculator", "arguments": {"expression": "1"}, "task": "soon"},
                       {"name": "calculator", "arguments": {"expression": "1"}, "task": {"ttl": "long"}}):
            with pytest.raises(MCPError) as refused:
                await client.session._dispatcher.send_raw_request("tools/call", params, {})
            errors.append(refused.value.error)
        for cursor in ("abc", "-1", "9" * 40):
            with pytest.raises(MCPError) as refused:
                await client.session.send_request(types.ListTasksRequest(
                    params=types.PaginatedRequestParams(cursor=cursor)), types.ListTasksResult)
            errors.append(refused.value.error)
        with pytest.raises(MCPError) as refused:
            await client.session._dispatcher.send_raw_request("tasks/get", {}, {})
        errors.append(refused.value.error)
        return errors

    errors = run(background, live.url, secret, use)
    assert [e.code for e in errors] == [-32602] * 6
    assert not ToolCall.objects.exists()


def test_notifications_cancelled_leaves_a_tasks_call_waiting(live: Any, secret: str, alice: Any) -> None:
    note = Note.objects.create(owner=alice, text="a task")
    call = {"jsonrpc": "2.0", "id": 31, "method": "tools/call",
            "params": {"name": "delete_note", "arguments": {"note_id": note.pk}, "task": {}}}
    with httpx2.Client(timeout=30) as http:
        answered = http.post(f"{live.url}/mcp", headers=_headers(secret), content=json.dumps(call))
        assert '"taskId"' in answered.text
        cancelled = http.post(f"{live.url}/mcp", headers=_headers(secret), content=json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 31}}))
        assert cancelled.status_code == 202
    request = parked()
    assert request.status == ApprovalRequest.Status.PENDING
    assert ToolCall.objects.get(pk=request.tool_call_id).status == ToolCall.Status.PENDING
