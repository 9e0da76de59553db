"""The decision page's content: the chat's rendering of the conversation, the rule in words,
and moving on to the next pending request after a decision."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import review
from approvals.models import ApprovalRequest
from assistant.models import Conversation, Message
from tests.approvals.helpers import client_for, make_approver
from tools.models import ToolCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


def parked(user, *, minutes=60, conversation=None, rule="risk:high", reason="", tool="delete_note"):
    record = ToolCall.objects.create(call_id=f"call_{minutes}", tool_name=tool, status="pending", user=user,
                                     username=user.username, arguments={"note_id": 3})
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=tool, arguments=record.arguments, risk="high", rule=rule,
        reason_required=reason, requester=user,
        expires_at=timezone.now() + timezone.timedelta(minutes=minutes),
        conversation_id=str(conversation.pk) if conversation else "")


def page(client, request):
    return client.get(reverse("admin:approvals_approvalrequest_change", args=[request.pk])).content.decode()


def test_the_conversation_is_rendered_as_the_chat_renders_it_up_to_the_call(user, approver):
    convo = Conversation.objects.create(owner=user, profile="demo")
    Message.objects.create(conversation=convo, position=0, role="user", content="delete <i>note</i> 3")
    Message.objects.create(conversation=convo, position=1, role="assistant", content="**Deleting** it.",
                           tool_calls=[{"id": "call_60", "name": "delete_note",
                                        "arguments": '{"note_id": 3}'}])
    request = parked(user, conversation=convo)
    later = Message.objects.create(conversation=convo, position=2, role="user",
                                   content="written after the call")
    Message.objects.filter(pk=later.pk).update(created_at=timezone.now() + timezone.timedelta(minutes=1))
    body = page(client_for(approver), request)
    assert 'class="msg msg-user"' in body and "delete &lt;i&gt;note&lt;/i&gt; 3" in body
    assert "<strong>Deleting</strong> it." in body  # the chat's Markdown rendering
    assert 'class="tool-card"' in body and 'data-call-id="call_60"' in body
    assert "written after the call" not in body


def test_the_rule_is_shown_in_words_with_risk_source_and_waiting_time(user, approver):
    request = parked(user, rule="rule:3:recipient outside example.com",
                     reason="recipient outside example.com", tool="send_email")
    seven_minutes_ago = timezone.now() - timezone.timedelta(minutes=7)
    ApprovalRequest.objects.filter(pk=request.pk).update(created_at=seven_minutes_ago)
    body = page(client_for(approver), request)
    assert "send_email: recipient outside example.com" in body
    assert 'id="toolgate-source">not recorded (no conversation)<' in body
    assert "7\xa0minutes" in body
    assert 'toolgate-risk-high">high<' in body


@pytest.mark.parametrize(("rule", "words"), [
    ("risk:high", "delete_note: a high-risk tool"),
    ("policy:always", "delete_note: an administrator requires approval for every call"),
])
def test_rules_without_a_reason_are_put_in_words(user, rule, words):
    assert parked(user, rule=rule).rule_in_words == words


def test_the_page_carries_the_tools_schema_for_the_generated_form(user, approver):
    body = page(client_for(approver), parked(user))
    assert '<script id="toolgate-tool-schema" type="application/json">' in body
    assert '"note_id": {"description"' in body
    assert 'src="/static/js/approval_form.js"' in body


def test_after_deciding_the_approver_lands_on_the_next_pending_request_soonest_to_expire(
        user, approver, django_user_model):
    first, later, soon = parked(user, minutes=30), parked(user, minutes=90), parked(user, minutes=10)
    own = parked(approver, minutes=5)  # the approver's own request is never next
    client = client_for(approver)
    response = client.post(reverse("admin:approvals_approvalrequest_decide", args=[first.pk]),
                           {"decision": "deny", "reason": "no"})
    assert response.url == reverse("admin:approvals_approvalrequest_change", args=[soon.pk])
    assert review.next_pending(approver, soon) == later
    assert own.pk not in {first.pk, later.pk, soon.pk}
    for request in (soon, later):
        response = client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]),
                               {"decision": "deny", "reason": "no"})
    assert response.url == reverse("admin:approvals_approvalrequest_changelist")


def test_a_built_in_rule_is_put_in_the_approvers_language_whatever_reason_was_stored(user):
    from django.utils import translation

    request = parked(user, rule="risk:high", reason="delete_note is a high-risk tool")
    assert request.rule_in_words == "delete_note: a high-risk tool"
    with translation.override("de"):
        assert request.rule_in_words == "delete_note: ein Werkzeug mit Risikostufe „high“"
