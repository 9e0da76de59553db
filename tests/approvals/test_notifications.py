"""Notifications to approvers: a signed webhook to a real local receiver, Slack payloads,
email to approvers only, retries recorded, redaction, and decisions never waiting on them."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from approvals import notifications, services
from approvals.models import ApprovalRequest, NotificationDelivery
from tests.approvals.helpers import make_approver
from tests.approvals.receiver import Receiver
from tests.celery_broker import using_broker
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-0123456789"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "approvals.md"


def docs_verify():
    """The verification snippet exactly as docs/approvals.md shows it."""
    text = DOCS.read_text()
    snippet = re.search(r"<!-- signature-verification -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    return namespace["verify"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def webhook(settings, receiver):
    settings.APPROVALS_WEBHOOK_URL = receiver.url
    settings.APPROVALS_WEBHOOK_SECRET = SECRET
    settings.APPROVALS_WEBHOOK_BACKOFF = 0.05
    settings.APPROVALS_WEBHOOK_TIMEOUT = 10
    return receiver


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


def parked(user, arguments=None, tool="send_email"):
    record = ToolCall.objects.create(call_id="c", tool_name=tool, status="pending", user=user,
                                     username=user.username, arguments=arguments or {"to": ["x@y.z"]})
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=tool, arguments=record.arguments, risk="high",
        rule="rule:3:recipient outside example.com", reason_required="recipient outside example.com",
        requester=user, expires_at=timezone.now() + timezone.timedelta(hours=1), conversation_id="7")


def test_a_new_request_reaches_a_receiver_that_verifies_the_signature(webhook, user, approver):
    request = parked(user)
    notifications.announce(request.pk, notifications.REQUESTED)  # autocommit: hands over at once
    assert notifications.wait_idle(60)
    [got] = webhook.received
    verify = docs_verify()
    assert verify(SECRET, got.headers["X-Toolgate-Signature"], got.body)
    event = json.loads(got.body)
    assert event["type"] == "approval.requested"
    a = event["approval"]
    assert (a["id"], a["tool"], a["risk"], a["requester"]) == (request.pk, "send_email", "high", "alice")
    assert a["rule"] == "rule:3:recipient outside example.com"
    assert a["created_at"] == request.created_at.isoformat()
    assert a["expires_at"] == request.expires_at.isoformat()
    assert a["url"] == "http://localhost:8000" + reverse("admin:approvals_approvalrequest_change",
                                                         args=[request.pk])
    [row] = NotificationDelivery.objects.filter(channel="webhook")
    assert (row.status, row.attempts, row.response_status) == ("sent", 1, 200)
    assert row.event == "approval.requested"
    assert row.target.startswith("http://127.0.0.1:") and "path-secret" not in row.target


def test_the_docs_snippet_refuses_a_forged_tampered_or_stale_signature(webhook, user, approver):
    notifications.deliver(parked(user).pk, notifications.REQUESTED)
    [got] = webhook.received
    verify = docs_verify()
    header = got.headers["X-Toolgate-Signature"]
    assert verify(SECRET, header, got.body)
    assert not verify("another-secret", header, got.body)
    assert not verify(SECRET, header, got.body.replace(b"send_email", b"send_money"))
    stamp = int(header.split(",")[0][2:])
    digest = header.split("v1=")[1]
    assert not verify(SECRET, f"t={stamp + 1},v1={digest}", got.body)
    assert not verify(SECRET, "v1=" + digest, got.body)
    from approvals.webhook import signature
    old = signature(SECRET, got.body, int(time.time()) - 3600)
    assert not verify(SECRET, old, got.body)


def test_a_failing_receiver_is_retried_then_the_delivery_is_recorded_as_failed(webhook, settings, user,
                                                                              approver):
    settings.APPROVALS_WEBHOOK_ATTEMPTS = 3
    webhook.statuses = [500, 502, 503]
    [row] = notifications.deliver(parked(user).pk, notifications.REQUESTED)
    assert len(webhook.received) == 3
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status) == ("failed", 3, 503)
    assert row.last_error == "the receiver answered HTTP 503"


def test_a_receiver_that_recovers_gets_the_event_on_a_later_attempt(webhook, settings, user, approver):
    settings.APPROVALS_WEBHOOK_ATTEMPTS = 3
    webhook.statuses = [503]
    [row] = notifications.deliver(parked(user).pk, notifications.REQUESTED)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status) == ("sent", 2, 200)
    assert len(webhook.received) == 2
    assert webhook.received[0].body == webhook.received[1].body


def test_an_unreachable_receiver_is_recorded_as_failed_with_the_reason(settings, user, approver):
    settings.APPROVALS_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens"
    settings.APPROVALS_WEBHOOK_SECRET = SECRET
    settings.APPROVALS_WEBHOOK_ATTEMPTS = 2
    settings.APPROVALS_WEBHOOK_BACKOFF = 0
    [row] = notifications.deliver(parked(user).pk, notifications.REQUESTED)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.last_error.startswith("could not reach the receiver")


def test_a_slow_receiver_never_holds_up_the_decision(webhook, settings, user, approver):
    settings.APPROVALS_WEBHOOK_TIMEOUT = 30
    webhook.delay = 5.0
    request = parked(user)
    decided_at = []

    def decide():
        services.decide(request.pk, approver, "deny", reason="not today")
        decided_at.append(webhook.arrived.is_set())

    worker = threading.Thread(target=decide)
    worker.start()
    worker.join(60)
    # The decision returned while the receiver was still sleeping on the delivery.
    assert ApprovalRequest.objects.get(pk=request.pk).status == "denied"
    assert notifications.wait_idle(60)
    [got] = webhook.received
    assert json.loads(got.body)["type"] == "approval.decided"
    assert json.loads(got.body)["approval"]["reason"] == "not today"
    row = NotificationDelivery.objects.get(event="approval.decided")
    assert row.status == "sent"
    assert row.finished_at > ApprovalRequest.objects.get(pk=request.pk).decided_at


def test_slack_format_sends_text_with_the_decision_page_link(webhook, settings, user, approver):
    settings.APPROVALS_WEBHOOK_FORMAT = "slack"
    request = parked(user)
    notifications.deliver(request.pk, notifications.REMINDER)
    body = json.loads(webhook.received[0].body)
    assert set(body) == {"text"}
    link = "http://localhost:8000" + reverse("admin:approvals_approvalrequest_change", args=[request.pk])
    assert f"<{link}|Open the decision page>" in body["text"]
    assert body["text"].startswith("Expires soon: send_email")
    assert NotificationDelivery.objects.get().channel == "slack"


def test_email_goes_to_approvers_only_never_the_requester_or_other_staff(settings, django_user_model, user):
    settings.APPROVALS_NOTIFY_EMAIL = True
    make_approver(django_user_model, "bob")
    make_approver(django_user_model, "carol")
    django_user_model.objects.create_user("dave", "dave@example.com", "pw", is_staff=True)  # no permission
    inactive = make_approver(django_user_model, "erin")
    inactive.is_active = False
    inactive.save()
    requester = make_approver(django_user_model, "frank")  # an approver asking for themself
    request = parked(requester)
    notifications.deliver(request.pk, notifications.REQUESTED)
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.com"]
    assert all(len(m.to) == 1 for m in mail.outbox)
    message = mail.outbox[0]
    assert message.subject == (
        f"[Toolgate] Approval needed: send_email #{request.pk} (high risk) requested by frank")
    assert reverse("admin:approvals_approvalrequest_change", args=[request.pk]) in message.body
    assert "recipient outside example.com" in message.body
    assert NotificationDelivery.objects.filter(channel="email", status="sent").count() == 2
    del user


def test_the_whole_flow_mails_approvers_when_a_call_parks_and_when_it_is_decided(settings, user, approver):
    settings.APPROVALS_NOTIFY_EMAIL = True
    from approvals.hooks import observe
    record = ToolCall.objects.create(call_id="c9", tool_name="delete_note", status="pending", user=user,
                                     username=user.username, arguments={"note_id": 1}, risk="high",
                                     gate_rule="risk:high", gate_reason="delete_note is a high-risk tool",
                                     scope={"conversation": "5"})
    observe("opened", record)
    assert notifications.wait_idle(60)
    assert [m.subject for m in mail.outbox] == [
        f"[Toolgate] Approval needed: delete_note #{record.approval.pk} (high risk) requested by alice"]
    services.expire(ApprovalRequest.objects.select_related("tool_call").get(tool_call=record))
    assert notifications.wait_idle(60)
    assert mail.outbox[-1].subject.startswith("[Toolgate] Expired without a decision: delete_note")
    assert {m.to[0] for m in mail.outbox} == {"bob@example.com"}


def test_sensitive_arguments_are_redacted_in_webhooks_and_email(webhook, settings, user, approver):
    settings.APPROVALS_NOTIFY_EMAIL = True
    request = parked(user, arguments={"to": ["x@y.z"], "api_key": "sk-live-LEAK",
                                      "auth": {"password": "hunter2"}})
    notifications.deliver(request.pk, notifications.REQUESTED)
    sent = webhook.received[0].body.decode() + "".join(m.body + m.subject for m in mail.outbox)
    assert mail.outbox and webhook.received
    assert "sk-live-LEAK" not in sent and "hunter2" not in sent
    assert json.loads(webhook.received[0].body)["approval"]["arguments"]["to"] == ["x@y.z"]


def test_a_reminder_is_sent_once_shortly_before_expiry(webhook, settings, user, approver):
    settings.APPROVALS_REMIND_BEFORE = 600
    soon = parked(user)
    later = parked(user)
    in_five_minutes = timezone.now() + timezone.timedelta(minutes=5)
    ApprovalRequest.objects.filter(pk=soon.pk).update(expires_at=in_five_minutes)
    assert services.remind_due() == 1
    assert services.remind_due() == 0
    assert notifications.wait_idle(60)
    [got] = webhook.received
    event = json.loads(got.body)
    assert (event["type"], event["approval"]["id"]) == ("approval.reminder", soon.pk)
    assert ApprovalRequest.objects.get(pk=later.pk).reminded_at is None


def test_delivering_again_does_not_resend_what_was_already_sent(webhook, settings, user, approver):
    settings.APPROVALS_NOTIFY_EMAIL = True
    request = parked(user)
    notifications.deliver(request.pk, notifications.REQUESTED)
    notifications.deliver(request.pk, notifications.REQUESTED)  # a redelivered Celery task
    assert len(webhook.received) == 1 and len(mail.outbox) == 1
    assert NotificationDelivery.objects.count() == 2


def test_an_unknown_event_is_refused_by_name(user):
    with pytest.raises(ValueError, match=r"unknown approval event 'approval\.approved'"):
        notifications.announce(1, "approval.approved")


def test_the_admin_lists_deliveries_read_only(webhook, user, approver, admin_client):
    notifications.deliver(parked(user).pk, notifications.REQUESTED)
    url = reverse("admin:approvals_notificationdelivery_changelist")
    response = admin_client.get(url)
    assert response.status_code == 200 and b"approval.requested" in response.content
    row = NotificationDelivery.objects.get()
    change = admin_client.post(reverse("admin:approvals_notificationdelivery_change", args=[row.pk]),
                               {"status": "pending"})
    assert change.status_code == 403
    assert admin_client.get(reverse("admin:approvals_notificationdelivery_add")).status_code == 403


def test_with_celery_the_delivery_is_a_task_that_takes_the_request_id(webhook, settings, user, approver):
    settings.CELERY_BROKER_URL = "memory://"
    request = parked(user)
    with using_broker("memory://", eager=True):  # the task runs here, through Celery's own machinery
        notifications.announce(request.pk, notifications.DECIDED)
    assert not notifications._threads  # no background thread: Celery carried it
    [got] = webhook.received
    assert json.loads(got.body)["approval"]["id"] == request.pk
