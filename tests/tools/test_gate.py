"""The gate decides whether a call may run; parked calls run exactly once when approved."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, Permission

from tests.tools.pipeline_helpers import Counter, pipeline, req
from tools import ToolContext, tool
from tools.errors import ErrorType
from tools.gate import GateDecision, PreparedCall, aavailable_tools, available_tools, can_use
from tools.models import ToolCall
from tools.pipeline import Pipeline
from tools.registry import Registry
from tools.results import REDACTED

pytestmark = pytest.mark.django_db(transaction=True)


def _transfer_tool(counter: Counter):
    @tool(risk="high")
    async def transfer(to: str, amount: int, api_key: str = "") -> dict:
        """Move money."""
        counter.enter()
        await asyncio.sleep(0.02)
        counter.exit()
        return {"to": to, "amount": amount, "key_used": api_key[:3]}

    return transfer


def approve_high_risk(call: PreparedCall) -> GateDecision:
    if call.tool.risk == "high":
        return GateDecision.require_approval(rule="high-risk", reason="moves money", queue="finance")
    return GateDecision.allow(rule="low-risk")


def deny_everything(call: PreparedCall) -> GateDecision:
    return GateDecision.deny(rule="freeze", reason="accounts are frozen")


def exploding_gate(call: PreparedCall) -> GateDecision:
    raise RuntimeError("policy table missing")


def confused_gate(call: PreparedCall) -> str:
    return "allow"


async def async_gate(call: PreparedCall) -> GateDecision:
    await asyncio.sleep(0)
    return GateDecision.deny(rule="async", reason="decided asynchronously")


# -- decisions ------------------------------------------------------------------------------


async def test_require_approval_parks_the_call_and_runs_nothing(user):
    counter = Counter()
    p = pipeline(_transfer_tool(counter), gate=approve_high_risk)
    result = await p.call(req("transfer", '{"to": "bob", "amount": 5}', call_id="c1"), ToolContext(user=user))
    assert result.status == "pending" and counter.calls == 0 and result.call_id == "c1"
    assert result.error.type is ErrorType.APPROVAL_REQUIRED
    assert result.error.as_dict()["rule"] == "high-risk" and result.error.as_dict()["queue"] == "finance"
    assert result.gate.action == "require_approval"
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.PENDING and row.gate_action == "require_approval"
    assert row.gate_rule == "high-risk" and row.gate_reason == "moves money"
    assert row.arguments == {"to": "bob", "amount": 5, "api_key": REDACTED}  # a sensitive key, even empty
    assert row.finished_at is None and row.risk == "high"


async def test_deny_returns_a_denied_error_and_runs_nothing(user):
    counter = Counter()
    p = pipeline(_transfer_tool(counter), gate=deny_everything)
    result = await p.call(req("transfer", '{"to": "bob", "amount": 5}'), ToolContext(user=user))
    assert result.status == "error" and counter.calls == 0
    assert result.error.as_dict() == {
        "type": "denied", "message": "the call to transfer was denied: accounts are frozen",
        "hint": "Do not retry this call; tell the user it is not allowed.",
        "reason": "accounts are frozen", "rule": "freeze",
    }
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.DENIED and row.gate_rule == "freeze" and row.error_type == "denied"


@pytest.mark.parametrize("gate", [exploding_gate, confused_gate])
async def test_a_gate_that_fails_denies_the_call_instead_of_crashing(user, gate):
    counter = Counter()
    p = pipeline(_transfer_tool(counter), gate=gate)
    result = await p.call(req("transfer", '{"to": "bob", "amount": 5}', call_id="c2"), ToolContext(user=user))
    assert result.status == "error" and result.call_id == "c2" and counter.calls == 0
    assert result.error.type is ErrorType.DENIED
    assert result.error.message.startswith("the call to transfer was denied: the approval policy failed")
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.DENIED and row.gate_rule == "gate_error"


async def test_async_gates_are_awaited(user):
    counter = Counter()
    result = await pipeline(_transfer_tool(counter), gate=async_gate).call(
        req("transfer", '{"to": "bob", "amount": 1}'), ToolContext(user=user))
    assert result.error.extra["rule"] == "async" and counter.calls == 0


async def test_the_gate_sees_the_validated_call(user):
    seen: list[PreparedCall] = []

    def spy(call: PreparedCall) -> GateDecision:
        seen.append(call)
        return GateDecision.allow()

    counter = Counter()
    await pipeline(_transfer_tool(counter), gate=spy).call(
        req("transfer", '{"amount": 3, "to": "eve"}', call_id="c3"), ToolContext(user=user, scope={"run": 1}))
    (call,) = seen
    assert call.tool.name == "transfer" and call.arguments["amount"] == 3 and call.call_id == "c3"
    assert call.arguments_json == {"to": "eve", "amount": 3, "api_key": ""}
    assert call.context.user == user and call.context.scope == {"run": 1}
    assert counter.calls == 1


async def test_the_default_gate_comes_from_settings(user, settings):
    settings.TOOLS_GATE = "tests.tools.test_gate.deny_everything"
    reg = Registry()
    counter = Counter()
    reg.register(_transfer_tool(counter))
    result = await Pipeline(reg).call(req("transfer", '{"to": "bob", "amount": 5}'), ToolContext(user=user))
    assert result.error.type is ErrorType.DENIED and counter.calls == 0


async def test_no_gate_setting_means_every_call_is_allowed(user, settings):
    settings.TOOLS_GATE = ""
    reg = Registry()
    counter = Counter()
    reg.register(_transfer_tool(counter))
    result = await Pipeline(reg).call(req("transfer", '{"to": "bob", "amount": 5}'), ToolContext(user=user))
    assert result.ok and counter.calls == 1


# -- approval ---------------------------------------------------------------------------------


async def _parked(user, arguments='{"to": "bob", "amount": 5}'):
    counter = Counter()
    p = pipeline(_transfer_tool(counter), gate=approve_high_risk)
    parked = await p.call(req("transfer", arguments, call_id="c-park"), ToolContext(user=user))
    assert parked.status == "pending"
    return p, counter, parked


async def test_run_approved_runs_the_parked_call_once(user):
    p, counter, parked = await _parked(user)
    result = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert result.status == "ok" and result.output == {"to": "bob", "amount": 5, "key_used": ""}
    assert result.call_id == "c-park" and result.record_id == parked.record_id and counter.calls == 1
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.status == ToolCall.Status.SUCCEEDED and row.result == result.output
    assert row.started_at is not None and row.finished_at is not None and row.pending_arguments is None
    again = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert again.status == "ok" and counter.calls == 1  # a second approval does not run it again


async def test_two_concurrent_approvals_run_the_tool_once(user):
    p, counter, parked = await _parked(user)
    ctx = ToolContext(user=user)
    results = await asyncio.gather(*(p.run_approved(parked.record_id, ctx) for _ in range(3)))
    assert counter.calls == 1
    assert sum(r.status == "ok" for r in results) >= 1  # the winner; the others see it ok or running
    assert {r.status for r in results} <= {"ok", "running"}
    assert {r.record_id for r in results} == {parked.record_id}


async def test_approved_call_with_edited_arguments_runs_the_edit(user):
    p, counter, parked = await _parked(user)
    edit = {"to": "bob", "amount": 2}
    result = await p.run_approved(parked.record_id, ToolContext(user=user), arguments=edit)
    assert result.output["amount"] == 2 and counter.calls == 1
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.arguments == {"to": "bob", "amount": 2, "api_key": REDACTED}


async def test_invalid_edited_arguments_fail_the_call_without_running_it(user):
    p, counter, parked = await _parked(user)
    edit = {"to": "bob", "amount": "2"}
    result = await p.run_approved(parked.record_id, ToolContext(user=user), arguments=edit)
    assert result.status == "error" and result.error.type is ErrorType.VALIDATION_ERROR and counter.calls == 0
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.status == ToolCall.Status.FAILED and row.error_type == "validation_error"
    assert row.pending_arguments is None
    later = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert later.status == "error" and counter.calls == 0


async def test_an_approved_call_runs_with_the_secret_that_was_redacted_in_its_record(user):
    p, _, parked = await _parked(user, '{"to": "bob", "amount": 5, "api_key": "sk-live-123"}')
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.arguments["api_key"] == REDACTED and "sk-live-123" not in row.raw_arguments
    result = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert result.output["key_used"] == "sk-"
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.pending_arguments is None and "sk-live-123" not in json.dumps(row.arguments)


async def test_an_approver_edit_keeps_the_redacted_secret(user):
    p, _, parked = await _parked(user, '{"to": "bob", "amount": 5, "api_key": "sk-live-123"}')
    shown = (await ToolCall.objects.aget(pk=parked.record_id)).arguments
    edited = {**shown, "amount": 1}
    result = await p.run_approved(parked.record_id, ToolContext(user=user), arguments=edited)
    assert result.output == {"to": "bob", "amount": 1, "key_used": "sk-"}


async def test_deny_pending_closes_the_call_with_a_denied_error(user):
    p, counter, parked = await _parked(user)
    result = await p.deny_pending(parked.record_id, "not this month", rule="reviewer")
    assert result.status == "error" and result.error.type is ErrorType.DENIED
    assert result.error.message == "the call to transfer was denied: not this month"
    row = await ToolCall.objects.aget(pk=parked.record_id)
    assert row.status == ToolCall.Status.DENIED and row.gate_reason == "not this month"
    assert row.gate_rule == "reviewer" and row.pending_arguments is None and row.finished_at is not None
    after = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert after.status == "error" and counter.calls == 0


async def test_deny_after_run_does_not_change_the_outcome(user):
    p, counter, parked = await _parked(user)
    await p.run_approved(parked.record_id, ToolContext(user=user))
    result = await p.deny_pending(parked.record_id, "too late")
    assert result.status == "ok" and counter.calls == 1


async def test_run_approved_for_a_tool_that_is_gone_fails_the_call(user):
    p, _, parked = await _parked(user)
    p.registry.unregister("transfer")
    result = await p.run_approved(parked.record_id, ToolContext(user=user))
    assert result.error.type is ErrorType.UNKNOWN_TOOL
    assert (await ToolCall.objects.aget(pk=parked.record_id)).status == ToolCall.Status.FAILED


# -- permissions ------------------------------------------------------------------------------


@tool(permission="tools.view_toolcall")
def audit_log(limit: int = 10) -> list:
    """Read the audit log."""
    return []


@tool
def public_info() -> str:
    """Anyone may call this."""
    return "hello"


async def _grant(user, codename):
    await sync_to_async(user.user_permissions.add)(await Permission.objects.aget(codename=codename))


async def test_permission_tool_is_denied_to_users_without_the_permission(user):
    result = await pipeline(audit_log).call(req("audit_log", "{}"), ToolContext(user=user))
    assert result.error.type is ErrorType.PERMISSION_DENIED
    assert result.error.message == "you are not allowed to use audit_log"
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.REJECTED and row.error_type == "permission_denied"


async def test_permission_tool_runs_for_users_with_the_permission(django_user_model, user):
    await _grant(user, "view_toolcall")
    fresh = await django_user_model.objects.aget(pk=user.pk)  # no stale permission cache
    assert (await pipeline(audit_log).call(req("audit_log", "{}"), ToolContext(user=fresh))).ok


async def test_anonymous_callers_cannot_use_permission_tools():
    for ctx in (ToolContext(), ToolContext(user=AnonymousUser())):
        result = await pipeline(audit_log).call(req("audit_log", "{}"), ctx)
        assert result.error.type is ErrorType.PERMISSION_DENIED


async def test_unknown_tool_hint_lists_only_tools_the_user_may_use(user):
    result = await pipeline(audit_log, public_info).call(req("nope"), ToolContext(user=user))
    assert result.error.hint == "Use one of: public_info."


def test_available_tools_hides_tools_the_user_may_not_use(user, django_user_model):
    assert available_tools(user, [audit_log, public_info]) == [public_info]
    assert not can_use(user, audit_log)
    user.user_permissions.add(Permission.objects.get(codename="view_toolcall"))
    fresh = django_user_model.objects.get(pk=user.pk)
    assert available_tools(fresh, [audit_log, public_info]) == [audit_log, public_info]
    assert available_tools(None, [audit_log, public_info]) == [public_info]


async def test_aavailable_tools_works_from_async_code(user):
    assert await aavailable_tools(user, [audit_log, public_info]) == [public_info]


def only_public(user, tool) -> bool:
    return tool.name == "public_info"


async def test_the_access_policy_setting_narrows_what_a_user_may_use(user, settings):
    settings.TOOLS_ACCESS_POLICY = "tests.tools.test_gate.only_public"

    @tool
    def other() -> str:
        """Other."""
        return "x"

    p = pipeline(other, public_info)
    assert (await p.call(req("other"), ToolContext(user=user))).error.type is ErrorType.PERMISSION_DENIED
    assert (await p.call(req("public_info"), ToolContext(user=user))).ok
    assert await aavailable_tools(user, [other, public_info]) == [public_info]
