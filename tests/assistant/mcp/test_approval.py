"""A call the policy parks: the MCP request stays open until a human decides it."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import httpx2
import mcp_types
from django.utils import timezone

from approvals import services
from approvals.models import ApprovalRequest, AuditEvent
from tests.assistant.mcp.conftest import with_client
from tools.models import Note, ToolCall

PROTOCOL = "2025-11-25"


def parked(tool: str = "delete_note", timeout: float = 60) -> ApprovalRequest:
    """The approval request once the server has parked the call."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ApprovalRequest.objects.filter(tool_name=tool).select_related("tool_call").first()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no approval request for {tool} within {timeout} s")


def call_in_background(background: Any, url: str, secret: str, tool: str, arguments: dict[str, Any]
                       ) -> tuple[Any, list[Any]]:
    progress: list[Any] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async def use(client: Any) -> Any:
        return await client.call_tool(tool, arguments, progress_callback=on_progress)

    return background.start(with_client(url, secret, use)), progress


def test_a_parked_call_completes_on_the_open_request_when_another_user_approves(
        live: Any, secret: str, alice: Any, approver: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="old plan")
    future, progress = call_in_background(background, live.url, secret, "delete_note", {"note_id": note.pk})
    request = parked()
    assert request.tool_call.scope["mcp"]["client"]["name"] == "pytest-agent"
    time.sleep(1.0)  # a few keep-alives while it waits
    assert not future.done()
    services.decide(request.pk, approver, services.APPROVE)
    result = future.result(60)
    assert result.is_error is not True
    assert result.structured_content == {"deleted": True, "id": note.pk, "text": "old plan"}
    assert result.meta["toolgate/approvalId"] == request.pk
    assert progress and "waiting for an approver" in progress[0][1]
    assert not Note.objects.filter(pk=note.pk).exists()
    assert ToolCall.objects.get(pk=request.tool_call_id).status == ToolCall.Status.SUCCEEDED


def test_edited_arguments_are_what_runs(live: Any, secret: str, alice: Any, approver: Any,
                                        background: Any) -> None:
    asked = Note.objects.create(owner=alice, text="keep me")
    edited = Note.objects.create(owner=alice, text="delete me instead")
    future, _ = call_in_background(background, live.url, secret, "delete_note", {"note_id": asked.pk})
    services.decide(parked().pk, approver, services.APPROVE, edited_arguments={"note_id": edited.pk})
    result = future.result(60)
    assert result.structured_content["id"] == edited.pk
    assert Note.objects.filter(pk=asked.pk).exists() and not Note.objects.filter(pk=edited.pk).exists()


def test_a_denied_call_is_an_error_result_with_the_decision_and_reason(
        live: Any, secret: str, alice: Any, approver: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="precious")
    future, _ = call_in_background(background, live.url, secret, "delete_note", {"note_id": note.pk})
    services.decide(parked().pk, approver, services.DENY, reason="not on a Friday")
    result = future.result(60)
    assert result.is_error is True
    assert "not on a Friday" in result.content[0].text
    assert result.structured_content["decision"] == {"status": "denied", "reason": "not on a Friday",
                                                      "decided_by": "bob"}
    assert Note.objects.filter(pk=note.pk).exists()


def test_an_expired_request_is_an_error_result(live: Any, secret: str, alice: Any, background: Any) -> None:
    note = Note.objects.create(owner=alice, text="precious")
    future, _ = call_in_background(background, live.url, secret, "delete_note", {"note_id": note.pk})
    request = parked()
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.expire_stale() == 1
    result = future.result(60)
    assert result.is_error is True
    assert result.structured_content["decision"]["status"] == "expired"
    assert "expired" in result.content[0].text
    assert Note.objects.filter(pk=note.pk).exists()


def _headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json", "MCP-Protocol-Version": PROTOCOL}


def _call_body(request_id: int, tool: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments, "_meta": {"progressToken": "p1"}}})


def test_a_client_that_disconnects_leaves_the_call_queued_and_approval_runs_it_once(
        live: Any, secret: str, alice: Any, approver: Any) -> None:
    note = Note.objects.create(owner=alice, text="to go")
    with httpx2.Client(timeout=30) as http, http.stream(
            "POST", f"{live.url}/mcp", headers=_headers(secret),
            content=_call_body(5, "delete_note", {"note_id": note.pk})) as response:
        assert response.status_code == 200
        request = parked()
        next(response.iter_lines())  # the stream is open (a keep-alive arrived)
    # the connection is closed: the request is still waiting in the queue
    time.sleep(1.0)
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    services.decide(request.pk, approver, services.APPROVE)
    record = ToolCall.objects.get(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.SUCCEEDED
    assert not Note.objects.filter(pk=note.pk).exists()
    runs = AuditEvent.objects.filter(tool_call_id=record.pk, kind="call.succeeded").count()
    assert runs == 1
    # the outcome is readable through the REST API with the same token
    outcome = httpx2.get(f"{live.url}/api/v1/approvals/{request.pk}",
                         headers={"Authorization": f"Bearer {secret}"}, timeout=30).json()
    assert outcome["status"] == "approved" and outcome["call_status"] == "succeeded"
    assert outcome["result"]["result"]["id"] == note.pk
    history = httpx2.get(f"{live.url}/api/v1/tool-calls?tool=delete_note",
                         headers={"Authorization": f"Bearer {secret}"}, timeout=30).json()
    assert [(c["source"], c["status"]) for c in history["items"]] == [("mcp", "succeeded")]


def test_notifications_cancelled_cancels_the_waiting_call_and_is_audited(
        live: Any, mcp_servers: list[Any], secret: str, alice: Any) -> None:
    note = Note.objects.create(owner=alice, text="stays")
    with httpx2.Client(timeout=30) as http, http.stream(
            "POST", f"{live.url}/mcp", headers=_headers(secret),
            content=_call_body(77, "delete_note", {"note_id": note.pk})) as response:
        request = parked()
        # stateless: the notification may reach another process; it still finds the call
        cancelled = http.post(f"{mcp_servers[1].url}/mcp", headers=_headers(secret), content=json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77}}))
        assert cancelled.status_code == 202
        body = "".join(line for line in response.iter_lines()
                       if line.startswith("data:") and '"id":77' in line)
    result = mcp_types.CallToolResult.model_validate(json.loads(body.removeprefix("data:"))["result"])
    assert result.is_error is True
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.CANCELLED
    assert ToolCall.objects.get(pk=request.tool_call_id).status == ToolCall.Status.DENIED
    decided = AuditEvent.objects.get(tool_call_id=request.tool_call_id, kind="approval.decided")
    assert decided.outcome == "cancelled" and decided.data["reason"] == "the MCP client cancelled the request"
    assert Note.objects.filter(pk=note.pk).exists()


def test_an_approver_clicking_approve_in_the_admin_sees_the_source_and_the_open_request_completes(
        live: Any, secret: str, alice: Any, approver: Any, background: Any) -> None:
    from django.test import Client as DjangoClient

    note = Note.objects.create(owner=alice, text="clicked away")
    future, _ = call_in_background(background, live.url, secret, "delete_note", {"note_id": note.pk})
    request = parked()
    signed_in = DjangoClient()
    signed_in.force_login(approver)  # a session row in the shared database; the server reads it
    cookies = {"sessionid": signed_in.cookies["sessionid"].value}
    with httpx2.Client(base_url=live.url, cookies=cookies, timeout=30) as browser:
        page = browser.get(f"/admin/approvals/approvalrequest/{request.pk}/change/")
        assert page.status_code == 200
        assert "MCP client “pytest-agent 1.2.3” with token “agent”" in page.text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
        decided = browser.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/",
                               data={"csrfmiddlewaretoken": csrf, "decision": "approve"},
                               headers={"Referer": f"{live.url}/admin/"})
        assert decided.status_code == 302
    result = future.result(60)
    assert result.structured_content["id"] == note.pk
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED and request.decided_by == approver


def test_another_users_token_cannot_cancel_a_waiting_call(live: Any, secret: str, alice: Any,
                                                          other_user: Any, approver: Any) -> None:
    from assistant.api import tokens

    mallory = tokens.create(other_user, "hostile").secret
    note = Note.objects.create(owner=alice, text="mine")
    with httpx2.Client(timeout=30) as http, http.stream(
            "POST", f"{live.url}/mcp", headers=_headers(secret),
            content=_call_body(9, "delete_note", {"note_id": note.pk})) as response:
        request = parked()
        http.post(f"{live.url}/mcp", headers=_headers(mallory), content=json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}))
        time.sleep(0.5)
        request.refresh_from_db()
        assert request.status == ApprovalRequest.Status.PENDING
        services.decide(request.pk, approver, services.APPROVE)
        body = "".join(line for line in response.iter_lines()
                       if line.startswith("data:") and '"id":9' in line)
    assert json.loads(body.removeprefix("data:"))["result"]["structuredContent"]["id"] == note.pk
