"""Every step of every tool call lands in the audit log, through the real pipeline and gate."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

import pytest
from asgiref.sync import sync_to_async
from pydantic import Field

from approvals import audit, policy
from approvals.models import ApprovalRequest, AuditEvent, PolicyRule, ToolPolicy
from tools import Risk, ToolContext, tool
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry
from tools.results import REDACTED

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-live-7c1d9e0f-DO-NOT-LEAK"
CONVERSATION = "5b0c6f0e-2f6a-4a54-9a55-0d7f1d3b9a11"
RAN: list[dict] = []


@tool(risk=Risk.LOW)
def audit_add(a: int, b: Annotated[int, Field(ge=0, description="Non-negative.")]) -> dict:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    RAN.append({"a": a, "b": b})
    return {"sum": a + b, "note": "é"}


@tool(risk=Risk.HIGH)
def audit_transfer(to: str, amount: int, api_key: str) -> dict:
    """Move money (needs approval: high risk).

    Args:
        to: Who gets it.
        amount: How much.
        api_key: The bank's key.
    """
    RAN.append({"to": to, "amount": amount, "api_key": api_key})
    return {"sent": amount, "to": to}


@tool(risk=Risk.LOW)
def audit_boom(x: int) -> int:
    """Always fails.

    Args:
        x: Ignored.
    """
    raise RuntimeError("the ledger is on fire")


@tool(risk=Risk.LOW, rate_limit="1/m")
def audit_once(x: int) -> int:
    """May run once a minute.

    Args:
        x: Returned.
    """
    return x


@pytest.fixture(autouse=True)
def _fresh_policy():
    RAN.clear()
    policy.invalidate()  # the gate's snapshot must not outlive another test's flushed policies
    yield
    policy.invalidate()


@pytest.fixture
def pipe() -> Pipeline:
    """The real pipeline with the real gate (settings.TOOLS_GATE) and journal (TOOLS_JOURNAL)."""
    reg = Registry()
    for item in (audit_add, audit_transfer, audit_boom, audit_once):
        reg.register(item)
    return Pipeline(reg)


def ctx(user) -> ToolContext:
    return ToolContext(user=user, scope={"conversation": CONVERSATION, "run": "run-1"})


async def events_of(record_id: int) -> list[AuditEvent]:
    return [e async for e in AuditEvent.objects.filter(tool_call_id=record_id).order_by("seq")]


async def kinds_of(record_id: int) -> list[str]:
    return [e.kind for e in await events_of(record_id)]


async def chain_ok() -> bool:
    verdict = await sync_to_async(audit.verify)()
    assert verdict.ok, verdict.message
    return True


def sha256_of_json(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def test_a_successful_call_is_proposed_validated_allowed_started_and_succeeds(pipe, user):
    result = await pipe.call(ToolCallRequest("audit_add", '{"a": 2, "b": 3}'), ctx(user))
    assert result.ok and result.output == {"sum": 5, "note": "é"}
    events = await events_of(result.record_id)
    assert [e.kind for e in events] == [
        "call.proposed", "call.validated", "policy.decided", "call.started", "call.succeeded"]
    assert {(e.tool_name, e.user_id, e.username, e.conversation_id) for e in events} == {
        ("audit_add", user.pk, "alice", CONVERSATION)}
    proposed, validated, decided, _, succeeded = events
    assert proposed.data["risk"] == "low" and proposed.data["scope"]["run"] == "run-1"
    assert validated.data["arguments"] == {"a": 2, "b": 3}
    assert decided.outcome == "allow" and decided.data["rule"] == "risk:low"
    assert succeeded.outcome == "succeeded"
    assert succeeded.data["result_sha256"] == sha256_of_json({"sum": 5, "note": "é"})
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert succeeded.data["duration_ms"] == row.duration_ms and row.duration_ms > 0
    assert succeeded.data["attempts"] == 1 and succeeded.data["cached"] is False
    assert await chain_ok()


async def test_an_invalid_call_is_proposed_then_rejected_and_never_validated(pipe, user):
    result = await pipe.call(ToolCallRequest("audit_add", '{"a": 2, "b": -1}'), ctx(user))
    assert result.status == "error" and result.error.type == "validation_error"
    events = await events_of(result.record_id)
    assert [e.kind for e in events] == ["call.proposed", "call.rejected"]
    assert events[1].outcome == "validation_error"
    assert events[1].data["error"]["details"][0]["path"] == "b"
    assert RAN == [] and await chain_ok()


async def test_unknown_tools_and_broken_json_are_rejected_on_the_record(pipe, user):
    unknown = await pipe.call(ToolCallRequest("rm_rf", '{"path": "/"}'), ctx(user))
    broken = await pipe.call(ToolCallRequest("audit_add", '{"a": 2, "b"'), ctx(user))
    assert [(e.kind, e.outcome) for e in await events_of(unknown.record_id)] == [
        ("call.proposed", ""), ("call.rejected", "unknown_tool")]
    assert (await events_of(unknown.record_id))[0].tool_name == "rm_rf"
    assert [(e.kind, e.outcome) for e in await events_of(broken.record_id)] == [
        ("call.proposed", ""), ("call.rejected", "invalid_json")]
    assert await chain_ok()


async def test_a_rate_limited_call_was_validated_then_rejected(pipe, user):
    first = await pipe.call(ToolCallRequest("audit_once", '{"x": 1}'), ctx(user))
    second = await pipe.call(ToolCallRequest("audit_once", '{"x": 2}'), ctx(user))
    assert first.ok and second.error.type == "rate_limited"
    assert [(e.kind, e.outcome) for e in await events_of(second.record_id)] == [
        ("call.proposed", ""), ("call.validated", ""), ("call.rejected", "rate_limited")]


async def test_a_call_the_policy_denies_records_the_rule_and_never_starts(pipe, user):
    tool_policy = await ToolPolicy.objects.acreate(tool_name="audit_add")
    rule = await PolicyRule.objects.acreate(policy=tool_policy, name="no big sums", argument="a",
                                            operator="gt", value="100", action="deny")
    result = await pipe.call(ToolCallRequest("audit_add", '{"a": 500, "b": 1}'), ctx(user))
    assert result.error.type == "denied"
    events = await events_of(result.record_id)
    assert [e.kind for e in events] == ["call.proposed", "call.validated", "policy.decided", "call.denied"]
    assert events[2].outcome == "deny"
    assert events[2].data == {"rule": f"rule:{rule.pk}:no big sums", "reason": "no big sums"}
    assert events[3].outcome == "denied" and "no big sums" in events[3].data["error"]["message"]
    assert RAN == [] and await chain_ok()


async def test_a_call_needing_approval_opens_a_request_with_its_rule(pipe, user):
    args = {"to": "bob", "amount": 10, "api_key": SECRET}
    result = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(args)), ctx(user))
    assert result.status == "pending"
    events = await events_of(result.record_id)
    assert [e.kind for e in events] == ["call.proposed", "call.validated", "policy.decided",
                                        "approval.requested"]
    assert events[2].outcome == "require_approval" and events[2].data["rule"] == "risk:high"
    request = await ApprovalRequest.objects.aget(tool_call_id=result.record_id)
    assert request.rule == "risk:high" and request.status == "pending"
    assert request.conversation_id == CONVERSATION and request.run_id == "run-1"
    requested = events[3]
    assert requested.outcome == "pending"
    assert requested.data["approval_id"] == request.pk and requested.data["rule"] == "risk:high"
    assert requested.data["expires_at"] == request.expires_at.isoformat()
    assert RAN == [] and await chain_ok()


async def test_an_approved_call_is_started_and_succeeds_exactly_once(pipe, user):
    args = {"to": "bob", "amount": 10, "api_key": SECRET}
    parked = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(args)), ctx(user))
    request = await ApprovalRequest.objects.aget(tool_call_id=parked.record_id)
    before = len(await events_of(parked.record_id))
    result = await pipe.run_approved(parked.record_id, ctx(user))
    again = await pipe.run_approved(parked.record_id, ctx(user))
    assert result.ok and again.ok and len(RAN) == 1 and RAN[0]["api_key"] == SECRET
    new = (await events_of(parked.record_id))[before:]
    assert [(e.kind, e.outcome) for e in new] == [
        ("call.started", "approved"), ("call.succeeded", "succeeded")]
    assert new[0].data["approval_id"] == request.pk
    assert new[0].data["arguments"] == {"to": "bob", "amount": 10, "api_key": REDACTED}
    assert new[1].data["result_sha256"] == sha256_of_json({"sent": 10, "to": "bob"})
    assert new[1].data["duration_ms"] > 0
    assert await chain_ok()


async def test_an_approvers_edit_is_what_the_started_event_shows(pipe, user):
    parked = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(
        {"to": "bob", "amount": 900, "api_key": SECRET})), ctx(user))
    await pipe.run_approved(parked.record_id, ctx(user),
                            arguments={"to": "bob", "amount": 90, "api_key": REDACTED})
    started = [e for e in await events_of(parked.record_id) if e.kind == "call.started"]
    assert [e.data["arguments"]["amount"] for e in started] == [90]
    assert RAN == [{"to": "bob", "amount": 90, "api_key": SECRET}]


async def test_a_denied_request_ends_with_the_decision_and_the_denied_call(pipe, django_user_model, user):
    approver = await django_user_model.objects.acreate(username="bob")
    parked = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(
        {"to": "eve", "amount": 10, "api_key": SECRET})), ctx(user))
    request = await ApprovalRequest.objects.select_related("tool_call").aget(tool_call_id=parked.record_id)

    def deny() -> None:  # what the lead's services do: claim the decision, record it, then settle
        assert request.claim_decision(ApprovalRequest.Status.DENIED, decided_by=approver, reason="not eve")
        audit.decision(request, approver)

    await sync_to_async(deny)()
    result = await pipe.deny_pending(parked.record_id, "not eve", rule="approval:denied")
    assert result.error.type == "denied" and RAN == []
    tail = (await events_of(parked.record_id))[-2:]
    assert [(e.kind, e.outcome, e.actor) for e in tail] == [
        ("approval.decided", "denied", "bob"), ("call.denied", "denied", "")]
    assert tail[0].data["reason"] == "not eve" and tail[0].data["actor_id"] == approver.pk
    assert tail[0].username == "alice" and tail[0].user_id == user.pk
    assert tail[1].data["reason"] == "not eve" and tail[1].data["rule"] == "approval:denied"
    assert (await ApprovalRequest.objects.aget(pk=request.pk)).status == "denied"
    assert await chain_ok()


async def test_a_parked_call_closed_by_a_cancelled_run_cancels_its_request_on_the_record(pipe, user):
    parked = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(
        {"to": "eve", "amount": 10, "api_key": SECRET})), ctx(user))
    await pipe.deny_pending(parked.record_id, "the run was cancelled", rule="cancelled")
    tail = (await events_of(parked.record_id))[-2:]
    assert [(e.kind, e.outcome, e.actor) for e in tail] == [
        ("approval.decided", "cancelled", "system:cancel"), ("call.denied", "denied", "")]
    request = await ApprovalRequest.objects.aget(tool_call_id=parked.record_id)
    assert request.status == "cancelled" and request.reason == "the run was cancelled"
    assert tail[0].data["approval_id"] == request.pk
    assert await chain_ok()


async def test_an_approved_call_whose_edit_no_longer_validates_fails_on_the_record(pipe, user):
    parked = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(
        {"to": "bob", "amount": 10, "api_key": SECRET})), ctx(user))
    result = await pipe.run_approved(parked.record_id, ctx(user),
                                     arguments={"to": "bob", "amount": "lots", "api_key": REDACTED})
    assert result.error.type == "validation_error" and RAN == []
    last = (await events_of(parked.record_id))[-1]
    assert (last.kind, last.outcome) == ("call.failed", "validation_error")
    assert last.data["duration_ms"] is not None


async def test_a_failing_tool_is_recorded_as_failed_with_its_error_and_duration(pipe, user):
    result = await pipe.call(ToolCallRequest("audit_boom", '{"x": 1}'), ctx(user))
    events = await events_of(result.record_id)
    assert [e.kind for e in events][-2:] == ["call.started", "call.failed"]
    failed = events[-1]
    assert failed.outcome == "execution_error" and "the ledger is on fire" in failed.data["error"]["message"]
    assert failed.data["duration_ms"] > 0 and "result_sha256" not in failed.data


async def test_secrets_reach_the_audit_log_only_redacted_and_raw_text_only_as_a_digest(pipe, user):
    raw = json.dumps({"to": "bob", "amount": 10, "api_key": SECRET})
    parked = await pipe.call(ToolCallRequest("audit_transfer", raw), ctx(user))
    await pipe.run_approved(parked.record_id, ctx(user))
    invalid = await pipe.call(ToolCallRequest("audit_transfer", json.dumps(
        {"to": "bob", "amount": "x", "api_key": SECRET})), ctx(user))
    assert invalid.error.type == "validation_error"
    row = await ToolCall.objects.aget(pk=parked.record_id)
    stored = json.dumps([e.data async for e in AuditEvent.objects.all()])
    assert SECRET not in stored and REDACTED in stored
    proposed = (await events_of(parked.record_id))[0]
    assert SECRET not in row.raw_arguments
    assert proposed.data["raw_arguments_sha256"] == hashlib.sha256(row.raw_arguments.encode()).hexdigest()
    assert proposed.data["raw_arguments_chars"] == len(row.raw_arguments)
    assert "arguments" not in proposed.data and "raw_arguments" not in proposed.data


async def test_every_event_of_a_busy_conversation_is_chained_in_order(pipe, user):
    requests = [ToolCallRequest("audit_add", json.dumps({"a": i, "b": 1})) for i in range(12)]
    results = await pipe.call_many(requests, ctx(user))
    assert all(r.ok for r in results)
    seqs = [e.seq async for e in AuditEvent.objects.filter(conversation_id=CONVERSATION).order_by("seq")]
    assert len(seqs) == 12 * 5 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for r in results:
        assert await kinds_of(r.record_id) == [
            "call.proposed", "call.validated", "policy.decided", "call.started", "call.succeeded"]
    assert await chain_ok()
