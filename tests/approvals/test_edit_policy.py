"""An approver's edit goes through the whole gate again (approvals/services.py, issue 10.2).

The attack: a rule "send_email: deny recipients outside example.com" refuses a direct
call, yet editing a parked call's ``to`` to an outside address used to send the email.
Everything here is real: the pipeline, the policy, the admin view, Django's locmem mail
outbox and the audit chain.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.urls import reverse

from approvals import audit, dispatch, services
from approvals.models import ApprovalRequest, AuditEvent, PolicyRule, ToolPolicy
from tests.approvals.helpers import client_for, make_approver
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDE_RULE = "deny recipients outside example.com"


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


@pytest.fixture
def outside_denied(db):
    policy = ToolPolicy.objects.create(tool_name="send_email")
    return PolicyRule.objects.create(policy=policy, name=OUTSIDE_RULE, argument="to",
                                     operator="email_outside", value="example.com", action="deny")


def email(to, subject="Lunch", body="See you at noon."):
    return {"to": to, "subject": subject, "body": body}


def call(user, arguments, call_id="call_mail"):
    return Pipeline().call_sync(ToolCallRequest("send_email", arguments, call_id=call_id),
                                ToolContext(user=user))


def park(user, to=("sam@example.com",)):
    result = call(user, email(list(to)))
    assert result.status == "pending", result
    return ApprovalRequest.objects.get(tool_call_id=result.record_id)


def refusals():
    return list(AuditEvent.objects.filter(kind="approval.edit_refused").order_by("seq"))


def test_the_rule_denies_a_direct_call_to_an_outside_address(user, outside_denied):
    result = call(user, email(["eve@evil.test"]))
    assert result.status == "error" and result.error.type == "denied"
    assert result.error.extra["reason"] == OUTSIDE_RULE
    assert mail.outbox == []


def test_an_edit_to_an_outside_address_is_refused_nothing_is_sent_and_it_is_audited(
        user, approver, outside_denied):
    request = park(user)
    edited = email(["eve@evil.test"])
    with pytest.raises(services.DecisionError) as refused:
        services.decide(request.pk, approver, services.APPROVE, edited_arguments=edited)
    assert str(refused.value) == (
        f"The edited arguments are denied by the policy: {OUTSIDE_RULE}. The request is still "
        "pending: approve it as asked, edit it again or deny it.")
    assert mail.outbox == []
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING and request.edited_arguments is None
    assert ToolCall.objects.get(pk=request.tool_call_id).status == ToolCall.Status.PENDING
    [event] = refusals()
    assert (event.actor, event.outcome, event.tool_name) == ("bob", "denied", "send_email")
    assert event.data["reason"] == OUTSIDE_RULE
    assert event.data["rule"] == f"rule:{outside_denied.pk}:{OUTSIDE_RULE}"
    assert event.data["edited_arguments"]["to"] == ["eve@evil.test"]
    assert event.data["original_arguments"]["to"] == ["sam@example.com"]
    assert audit.verify().ok

    # The request is still decidable: approved as asked, the email goes where it was asked to.
    services.decide(request.pk, approver, services.APPROVE)
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]


def test_the_admin_shows_the_approver_the_rules_reason(user, approver, outside_denied):
    request = park(user)
    client = client_for(approver)
    url = reverse("admin:approvals_approvalrequest_decide", args=[request.pk])
    response = client.post(url, {"decision": "approve_edited",
                                 "edited_arguments": '{"to": ["eve@evil.test"], "subject": "Lunch", '
                                                     '"body": "See you at noon."}'}, follow=True)
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("admin:approvals_approvalrequest_change",
                                                     args=[request.pk])
    assert f"The edited arguments are denied by the policy: {OUTSIDE_RULE}." in body
    assert 'value="approve"' in body  # still pending: the approver can decide again
    assert mail.outbox == [] and len(refusals()) == 1


def test_an_edit_that_the_policy_would_park_is_covered_by_the_approval(user, approver, outside_denied):
    PolicyRule.objects.create(policy=outside_denied.policy, name="urgent mail needs a human",
                              argument="subject", operator="contains", value="urgent",
                              action="require_approval", order=1)
    request = park(user)
    services.decide(request.pk, approver, services.APPROVE,
                    edited_arguments=email(["sam@example.com"], subject="URGENT: lunch"))
    assert [(m.to, m.subject) for m in mail.outbox] == [(["sam@example.com"], "URGENT: lunch")]
    assert refusals() == []


def test_an_edit_is_checked_against_the_requesters_permission(user, approver, outside_denied):
    request = park(user)
    outside_denied.policy.enabled = False
    outside_denied.policy.save()
    with pytest.raises(services.DecisionError, match="may no longer use send_email"):
        services.decide(request.pk, approver, services.APPROVE, edited_arguments=email(["ann@example.com"]))
    assert mail.outbox == [] and refusals()[0].outcome == "permission_denied"


async def test_running_an_approved_edit_checks_the_policy_again(user, outside_denied):
    """Defence in depth: whatever approved it, run_approved itself refuses a denied edit."""
    request = await sync_to_async(park)(user)
    result = await Pipeline().run_approved(request.tool_call_id, ToolContext(user=user),
                                           arguments=email(["eve@evil.test"]))
    assert result.status == "error" and result.error.type == "denied"
    assert result.error.extra["reason"] == OUTSIDE_RULE
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.DENIED and record.gate_reason == OUTSIDE_RULE
    assert record.pending_arguments is None
    assert mail.outbox == []
    await dispatch.wait_idle()


def test_rechecking_an_edit_does_not_count_against_the_policys_rate_limit(user, approver):
    ToolPolicy.objects.create(tool_name="send_email", rate_limit="1/m")
    request = park(user)  # the one call a minute this user may make
    assert call(user, email(["sam@example.com"]), call_id="again").error.extra["rule"] == "policy:rate_limit"
    services.decide(request.pk, approver, services.APPROVE, edited_arguments=email(["ann@example.com"]))
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert refusals() == []
