"""The approval queue and policies in the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalRequest, PolicyRule, ToolPolicy
from assistant.models import Conversation, Message
from tests.approvals.helpers import client_for, make_approver
from tools.models import ToolCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


def parked(user, *, status="pending", tool="send_email", arguments=None, conversation=None):
    record = ToolCall.objects.create(call_id="c", tool_name=tool, status="pending", user=user,
                                     username=user.username, arguments=arguments or {"to": ["x@y.z"]})
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=tool, arguments=record.arguments, risk="high", rule="risk:high",
        requester=user, status=status, expires_at=timezone.now() + timezone.timedelta(hours=1),
        conversation_id=str(conversation.pk) if conversation else "",
    )


def test_the_queue_shows_pending_requests_by_default_with_counts(approver, user):
    waiting = parked(user)
    decided = parked(user, status="denied", tool="delete_note")
    page = client_for(approver).get(reverse("admin:approvals_approvalrequest_changelist"))
    body = page.content.decode()
    assert page.status_code == 200
    assert f"/approvalrequest/{waiting.pk}/change/" in body
    assert f"/approvalrequest/{decided.pk}/change/" not in body  # only pending rows listed
    assert 'id="toolgate-pending-count">1<' in body
    url = reverse("admin:approvals_approvalrequest_changelist")
    everything = client_for(approver).get(url + "?status=all")
    assert f"/approvalrequest/{decided.pk}/change/" in everything.content.decode()


def test_the_detail_shows_the_conversation_and_pretty_arguments_escaped(approver, user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    Message.objects.create(conversation=convo, position=0, role="user", content="mail <b>bob</b> please")
    request = parked(user, arguments={"to": ["bob@example.com"], "body": "<script>x</script>"},
                     conversation=convo)
    page = client_for(approver).get(reverse("admin:approvals_approvalrequest_change", args=[request.pk]))
    body = page.content.decode()
    assert "mail &lt;b&gt;bob&lt;/b&gt; please" in body
    assert "&lt;script&gt;x&lt;/script&gt;" in body and "<script>x</script>" not in body
    assert '"to": [\n    "bob@example.com"' in body.replace("&quot;", '"')
    assert 'value="approve"' in body and 'value="deny"' in body


def test_edited_arguments_are_shown_beside_the_originals_as_a_diff(approver, user):
    request = parked(user, arguments={"to": ["a@example.com"]})
    ApprovalRequest.objects.filter(pk=request.pk).update(status="approved",
                                                          edited_arguments={"to": ["b@example.com"]})
    body = client_for(approver).get(reverse("admin:approvals_approvalrequest_change",
                                            args=[request.pk])).content.decode()
    assert "-    &quot;a@example.com&quot;" in body and "+    &quot;b@example.com&quot;" in body


def test_staff_without_the_decide_permission_see_no_decision_form_and_cannot_decide(django_user_model, user):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("vic", "v@example.com", "pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_approvalrequest"))
    request = parked(user)
    client = client_for(viewer)
    body = client.get(reverse("admin:approvals_approvalrequest_change", args=[request.pk])).content.decode()
    assert 'value="approve"' not in body
    client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]), {"decision": "approve"})
    request.refresh_from_db()
    assert request.status == "pending"


def test_requests_cannot_be_added_changed_or_deleted_in_the_admin(django_user_model, user):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-root-12345")
    request = parked(user)
    client = client_for(admin)
    assert client.get(reverse("admin:approvals_approvalrequest_add")).status_code == 403
    assert client.post(reverse("admin:approvals_approvalrequest_delete", args=[request.pk]),
                       {"post": "yes"}).status_code == 403
    assert ApprovalRequest.objects.filter(pk=request.pk).exists()


def test_policy_changes_in_the_admin_are_audited(django_user_model):
    from approvals.models import AuditEvent

    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-root-12345")
    client = client_for(admin)
    response = client.post(reverse("admin:approvals_toolpolicy_add"), {
        "tool_name": "send_email", "enabled": "on", "approval": "always", "rate_limit": "",
        "scope_max_calls": "5", "scope_max_minutes": "30",
        "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000", "rules-0-order": "1", "rules-0-name": "external",
        "rules-0-argument": "to", "rules-0-operator": "email_outside", "rules-0-value": "example.com",
        "rules-0-action": "require_approval", "rules-0-enabled": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ToolPolicy.objects.get().approval == "always"
    assert PolicyRule.objects.get().name == "external"
    kinds = list(AuditEvent.objects.filter(actor="root").values_list("kind", flat=True))
    assert len(kinds) == 2 and all(k.startswith("policy.") for k in kinds)
