"""Telling approvers, where they are, that a request waits, will soon expire, or was settled.

Channels: email to every approver who may decide the request (never the requester), and a
webhook (``APPROVALS_WEBHOOK_URL``): a signed JSON event, or a Slack-compatible text payload
with ``APPROVALS_WEBHOOK_FORMAT=slack``. Events: ``approval.requested``, ``approval.reminder``,
``approval.decided``, ``approval.expired``.

Delivery never blocks a decision: :func:`announce` hands the work over after the deciding
transaction commits — to a Celery task in production, to a background thread otherwise —
and each delivery, with every attempt's outcome, is a :class:`NotificationDelivery` row.
Arguments are redacted again (``TOOLS_SENSITIVE_KEYS``) before they leave. Links open the
decision page, which needs a signed-in approver: no notification can approve anything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db import connections, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from approvals import webhook
from approvals.models import ApprovalRequest, NotificationDelivery
from tools.results import redactor

logger = logging.getLogger(__name__)

REQUESTED, REMINDER = "approval.requested", "approval.reminder"
DECIDED, EXPIRED = "approval.decided", "approval.expired"
EVENTS = (REQUESTED, REMINDER, DECIDED, EXPIRED)

_threads: set[threading.Thread] = set()
_lock = threading.Lock()


def channels_configured() -> bool:
    return bool(settings.APPROVALS_NOTIFY_EMAIL or settings.APPROVALS_WEBHOOK_URL)


def announce(approval_id: int, event: str) -> None:
    """Notify approvers of ``event`` once the current transaction commits; never raises."""
    if event not in EVENTS:
        raise ValueError(f"unknown approval event {event!r}; one of {', '.join(EVENTS)}")
    if channels_configured():
        transaction.on_commit(lambda: _submit(approval_id, event))


def _submit(approval_id: int, event: str) -> None:
    try:
        if getattr(settings, "CELERY_BROKER_URL", None):
            from approvals.tasks import deliver_notifications

            deliver_notifications.delay(approval_id, event)
            return
        thread = threading.Thread(target=_deliver_in_thread, args=(approval_id, event),
                                  name=f"notify-{approval_id}-{event}", daemon=True)
        with _lock:
            _threads.add(thread)
        thread.start()
    except Exception:  # a lost notification must never fail the decision that caused it
        logger.exception("could not hand over the %s notification of approval %s", event, approval_id)


def _deliver_in_thread(approval_id: int, event: str) -> None:
    try:
        deliver(approval_id, event)
    except Exception:
        logger.exception("notifying approvers of %s for approval %s failed", event, approval_id)
    finally:
        connections.close_all()  # this thread's own connections; it ends here
        with _lock:
            _threads.discard(threading.current_thread())


def wait_idle(timeout: float = 60.0) -> bool:
    """Wait for background deliveries of this process (tests, graceful shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            running = list(_threads)
        if not running:
            return True
        if time.monotonic() > deadline:
            return False
        running[0].join(timeout=max(0.0, deadline - time.monotonic()))


def deliver(approval_id: int, event: str) -> list[NotificationDelivery]:
    """Send ``event`` for one request through every configured channel (idempotent per
    channel and target: one already sent is not sent again)."""
    request = ApprovalRequest.objects.select_related("requester", "decided_by").get(pk=approval_id)
    payload = event_payload(request, event)
    done = set(NotificationDelivery.objects.filter(
        approval=request, event=event, status=NotificationDelivery.Status.SENT,
    ).values_list("channel", "target"))
    rows: list[NotificationDelivery] = []
    if settings.APPROVALS_NOTIFY_EMAIL:
        for address in approver_addresses(request):
            if (NotificationDelivery.Channel.EMAIL, address) not in done:
                rows.append(_send_email(request, event, payload, address))
    url = settings.APPROVALS_WEBHOOK_URL
    if url:
        slack = settings.APPROVALS_WEBHOOK_FORMAT == "slack"
        channel = NotificationDelivery.Channel.SLACK if slack else NotificationDelivery.Channel.WEBHOOK
        if (channel, webhook.origin(url)) not in done:
            body = slack_payload(payload) if slack else payload
            rows.append(_send_webhook(request, event, channel, url, body))
    return rows


def approvers(request: ApprovalRequest) -> Any:
    """Active staff who may decide this request, without its requester."""
    perm = Permission.objects.get(codename="decide", content_type__app_label="approvals")
    users = get_user_model().objects.filter(is_active=True, is_staff=True).filter(
        Q(is_superuser=True) | Q(user_permissions=perm) | Q(groups__permissions=perm)).distinct()
    if request.requester_id is not None:
        users = users.exclude(pk=request.requester_id)
    return users


def approver_addresses(request: ApprovalRequest) -> list[str]:
    return sorted({u.email for u in approvers(request) if u.email})


def decision_url(request: ApprovalRequest) -> str:
    path = reverse("admin:approvals_approvalrequest_change", args=[request.pk])
    return settings.APPROVALS_LINK_BASE_URL.rstrip("/") + path


def event_payload(request: ApprovalRequest, event: str) -> dict[str, Any]:
    """The JSON event; arguments redacted with the current sensitive keys."""
    redact = redactor()
    return {
        "id": str(uuid.uuid4()), "type": event, "created": timezone.now().isoformat(),
        "approval": {
            "id": request.pk, "tool": request.tool_name, "risk": request.risk, "status": request.status,
            "requester": request.requester.get_username() if request.requester else None,
            "rule": request.rule, "rule_reason": request.reason_required,
            "arguments": redact(request.effective_arguments()),
            "source": getattr(request, "source", "") or "chat",
            "conversation_id": request.conversation_id,
            "created_at": request.created_at.isoformat(), "expires_at": request.expires_at.isoformat(),
            "decided_by": request.decided_by.get_username() if request.decided_by else None,
            "decided_at": request.decided_at.isoformat() if request.decided_at else None,
            "reason": request.reason,
            "url": decision_url(request),
        },
    }


def headline(payload: dict[str, Any]) -> str:
    a = payload["approval"]
    what = f"{a['tool']} #{a['id']} ({a['risk']} risk) requested by {a['requester'] or 'unknown'}"
    return {
        REQUESTED: f"Approval needed: {what}",
        REMINDER: f"Expires soon: {what}",
        DECIDED: f"{a['status'].capitalize()} by {a['decided_by'] or 'the system'}: {what}",
        EXPIRED: f"Expired without a decision: {what}",
    }[payload["type"]]


def slack_payload(payload: dict[str, Any]) -> dict[str, Any]:
    a = payload["approval"]
    return {"text": f"{headline(payload)}\nRule: {a['rule_reason'] or a['rule']}\n"
                    f"<{a['url']}|Open the decision page>"}


def email_body(payload: dict[str, Any]) -> str:
    a = payload["approval"]
    lines = [headline(payload), "", f"Tool: {a['tool']}", f"Risk: {a['risk']}",
             f"Requested by: {a['requester'] or 'unknown'}", f"Rule: {a['rule_reason'] or a['rule']}",
             f"Waiting since: {a['created_at']}", f"Expires: {a['expires_at']}"]
    if a["decided_by"] or a["reason"]:
        lines.append(f"Decision: {a['status']} by {a['decided_by'] or 'the system'} — {a['reason']}")
    lines += ["", "Arguments:", json.dumps(a["arguments"], indent=2, ensure_ascii=False), "",
              f"Open the decision page (sign-in required): {a['url']}"]
    return "\n".join(lines)


def _send_email(request: ApprovalRequest, event: str, payload: dict[str, Any],
                address: str) -> NotificationDelivery:
    row = NotificationDelivery.objects.create(approval=request, event=event,
                                              channel=NotificationDelivery.Channel.EMAIL, target=address)
    try:
        send_mail(f"[Toolgate] {headline(payload)}", email_body(payload), None, [address])
    except Exception as exc:
        row.attempt_failed(f"{type(exc).__name__}: {exc}")
        row.finish(NotificationDelivery.Status.FAILED)
    else:
        row.finish(NotificationDelivery.Status.SENT)
    return row


def _send_webhook(request: ApprovalRequest, event: str, channel: str, url: str,
                  body: dict[str, Any]) -> NotificationDelivery:
    """POST with retries: waits ``APPROVALS_WEBHOOK_BACKOFF`` seconds, doubled each time,
    between ``APPROVALS_WEBHOOK_ATTEMPTS`` attempts; every failed attempt is recorded."""
    row = NotificationDelivery.objects.create(approval=request, event=event, channel=channel,
                                              target=webhook.origin(url))
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    delay = settings.APPROVALS_WEBHOOK_BACKOFF
    for attempt in range(1, settings.APPROVALS_WEBHOOK_ATTEMPTS + 1):
        try:
            status = webhook.post(url, data, settings.APPROVALS_WEBHOOK_SECRET or "",
                                  settings.APPROVALS_WEBHOOK_TIMEOUT)
        except webhook.DeliveryError as exc:
            row.attempt_failed(str(exc), exc.status)
            if attempt < settings.APPROVALS_WEBHOOK_ATTEMPTS:
                time.sleep(delay)
                delay *= 2
            continue
        row.finish(NotificationDelivery.Status.SENT, response_status=status)
        return row
    row.finish(NotificationDelivery.Status.FAILED)
    return row
