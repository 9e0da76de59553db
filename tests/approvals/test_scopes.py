"""Scoped approval: "approve and allow for this conversation" covers later calls of the same
tool in the same conversation, bounded in count and time, only where the policy allows it,
never past a deny rule, each covered call audited with its scope, revocable in the admin."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import services
from approvals.models import ApprovalRequest, ApprovalScope, AuditEvent, PolicyRule, ToolPolicy
from tests.approvals.helpers import client_for, make_approver
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest

pytestmark = pytest.mark.django_db(transaction=True)

C1, C2, C9 = (str(uuid.uuid4()) for _ in range(3))  # conversation ids are UUIDs


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


@pytest.fixture
def eligible(db):
    return ToolPolicy.objects.create(tool_name="send_email", approval="always", scope_eligible=True,
                                     scope_max_calls=2, scope_max_minutes=30)


def mail_call(user, to="sam@example.com", conversation=C1, n=[0]):  # noqa: B006 -- a call counter
    n[0] += 1
    arguments = {"to": [to], "subject": "Lunch", "body": "See you at noon."}
    return Pipeline().call_sync(ToolCallRequest("send_email", arguments, call_id=f"call_{n[0]}"),
                                ToolContext(user=user, scope={"conversation": conversation}))


def park(user, **kwargs):
    result = mail_call(user, **kwargs)
    assert result.status == "pending", result
    return ApprovalRequest.objects.get(tool_call_id=result.record_id)


def allow_for_conversation(user, approver):
    request = park(user)
    services.decide(request.pk, approver, "approve", allow_conversation=True)
    return ApprovalScope.objects.get(approval=request)


def test_later_calls_in_the_conversation_run_without_approval_up_to_the_count(user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    assert (scope.max_calls, scope.used_calls, scope.granted_by) == (2, 0, approver)
    first, second = mail_call(user), mail_call(user)
    assert first.status == "ok" and second.status == "ok"
    third = mail_call(user)
    assert third.status == "pending"
    scope.refresh_from_db()
    assert scope.used_calls == 2 and not scope.is_active


def test_every_covered_call_is_audited_with_the_scope_that_allowed_it(user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    covered = mail_call(user)
    record = ToolCall.objects.get(pk=covered.record_id)
    assert record.gate_rule == f"scope:{scope.pk}"
    decided = AuditEvent.objects.get(kind="policy.decided", tool_call_id=record.pk)
    assert decided.outcome == "allow" and decided.data["rule"] == f"scope:{scope.pk}"
    assert f"approval #{scope.approval_id}" in decided.data["reason"]
    granted = AuditEvent.objects.get(kind="approval.decided", data__approval_id=scope.approval_id)
    assert granted.data["scope"]["id"] == scope.pk and granted.data["scope"]["max_calls"] == 2


def test_a_scope_covers_only_its_own_conversation_and_tool(user, approver, eligible):
    allow_for_conversation(user, approver)
    assert mail_call(user, conversation=C2).status == "pending"
    assert mail_call(user, conversation="").status == "pending"
    assert ApprovalScope.objects.get().used_calls == 0


def test_a_scope_never_overrides_a_deny_rule(user, approver, eligible):
    allow_for_conversation(user, approver)
    PolicyRule.objects.create(policy=eligible, name="no outside recipients", argument="to",
                              operator="email_outside", value="example.com", action="deny")
    result = mail_call(user, to="eve@evil.test")
    assert result.status == "error" and result.error.type == "denied"
    assert ApprovalScope.objects.get().used_calls == 0


def test_a_scope_lapses_after_its_time(user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    past = timezone.now() - timezone.timedelta(seconds=1)
    ApprovalScope.objects.filter(pk=scope.pk).update(expires_at=past)
    assert mail_call(user).status == "pending"


def test_a_scope_stops_when_the_policy_no_longer_marks_the_tool_eligible(user, approver, eligible):
    allow_for_conversation(user, approver)
    eligible.scope_eligible = False
    eligible.save()
    assert mail_call(user).status == "pending"


def test_a_tool_not_marked_eligible_cannot_be_allowed_for_the_conversation(user, approver):
    ToolPolicy.objects.create(tool_name="send_email", approval="always")
    request = park(user)
    with pytest.raises(services.DecisionError, match="does not allow approving it for a whole conversation"):
        services.decide(request.pk, approver, "approve", allow_conversation=True)
    request.refresh_from_db()
    assert request.is_pending and not ApprovalScope.objects.exists()


def test_a_denial_cannot_grant_a_scope(user, approver, eligible):
    request = park(user)
    with pytest.raises(services.DecisionError, match="Only an approval can allow later calls"):
        services.decide(request.pk, approver, "deny", reason="no", allow_conversation=True)
    assert ApprovalRequest.objects.get(pk=request.pk).is_pending


def test_two_calls_racing_for_the_last_use_get_it_once(user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    ApprovalScope.objects.filter(pk=scope.pk).update(used_calls=1)

    async def race():
        return await asyncio.gather(*(ApprovalScope.ause("send_email", C1, user.pk) for _ in range(4)))

    won = [s for s in asyncio.run(race()) if s is not None]
    assert len(won) == 1
    assert ApprovalScope.objects.get(pk=scope.pk).used_calls == 2


def test_the_admin_offers_the_scope_button_only_where_eligible_and_grants_it(user, approver, eligible):
    request = park(user)
    client = client_for(approver)
    page = client.get(reverse("admin:approvals_approvalrequest_change", args=[request.pk]))
    assert b"Approve and allow for this conversation" in page.content
    response = client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]),
                           {"decision": "approve_scope"})
    assert response.status_code == 302
    assert ApprovalScope.objects.get(approval=request).max_calls == 2
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"
    eligible.scope_eligible = False
    eligible.save()
    other = park(user, conversation=C9)
    page = client.get(reverse("admin:approvals_approvalrequest_change", args=[other.pk]))
    assert b"Approve and allow for this conversation" not in page.content


def test_revoking_in_the_admin_ends_the_scope_and_is_audited(user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    client = client_for(approver)
    response = client.post(reverse("admin:approvals_approvalscope_changelist"),
                           {"action": "revoke", "_selected_action": [scope.pk]})
    assert response.status_code == 302
    scope.refresh_from_db()
    assert scope.revoked_by == approver and scope.revoked_at is not None
    assert mail_call(user).status == "pending"
    event = AuditEvent.objects.get(kind="approval.scope_revoked")
    assert event.actor == approver.username and event.data["scope_id"] == scope.pk
    with pytest.raises(services.DecisionError, match=f"Scope #{scope.pk} was already revoked"):
        services.revoke_scope(scope.pk, approver)


def test_only_approvers_may_revoke(user, approver, eligible, django_user_model):
    scope = allow_for_conversation(user, approver)
    with pytest.raises(services.DecisionError, match="permission to revoke"):
        services.revoke_scope(scope.pk, user)
    assert ApprovalScope.objects.get(pk=scope.pk).revoked_at is None


def test_a_scope_covers_only_the_requesters_calls(user, other_user, approver, eligible):
    scope = allow_for_conversation(user, approver)
    assert scope.user == user
    assert mail_call(other_user).status == "pending"  # another user naming the same conversation
    assert ApprovalScope.objects.get().used_calls == 0
