"""The approval queue as approvers work it (approvals/admin_queue.py): filters, sorting by
expiry, the rows' columns, the live page's fetches, and bulk deny with one reason."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from approvals import services
from approvals.admin_queue import LIVE_HEADER
from approvals.models import ApprovalRequest, AuditEvent
from tests.approvals.helpers import client_for, make_approver, parked

pytestmark = pytest.mark.django_db

QUEUE = "admin:approvals_approvalrequest_changelist"


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


def listed(client, **query) -> list[int]:
    body = client.get(reverse(QUEUE), query).content.decode()
    return [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', body)]


def test_the_pending_queue_is_sorted_soonest_to_expire_first_and_the_column_sorts_both_ways(user, approver):
    late = parked(user, minutes=50)
    soon = parked(user, minutes=5)
    middle = parked(user, minutes=20)
    client = client_for(approver)
    assert listed(client) == [soon.pk, middle.pk, late.pk]
    columns = client.get(reverse(QUEUE)).context["cl"].list_display
    expires_column = list(columns).index("expires")
    assert listed(client, o=f"-{expires_column}") == [late.pk, middle.pk, soon.pk]
    assert listed(client, status="all") == [middle.pk, soon.pk, late.pk]  # newest first outside the queue


@pytest.mark.parametrize(("source", "expected"), [("chat", "chat"), ("api", "api"), ("mcp", "mcp"),
                                                   ("other", "other")])
def test_the_source_filter_tells_chat_api_mcp_and_other_calls_apart(user, approver, source, expected):
    made = {
        "chat": parked(user, scope={"conversation": "c1", "run": "r1"}, conversation="c1"),
        "api": parked(user, scope={"source": "api"}),
        "mcp": parked(user, scope={"source": "mcp", "mcp": {"client": {"name": "claude"}}}),
        "other": parked(user, scope={"source": "manage.py tools call"}),
    }
    assert listed(client_for(approver), source=source) == [made[expected].pk]


def test_the_age_filter_selects_by_how_long_a_request_has_waited(user, approver):
    fresh, waiting, long, ancient = (parked(user, waited=w) for w in (1, 12, 45, 300))
    client = client_for(approver)
    assert listed(client, age="5m") == [fresh.pk]
    assert listed(client, age="30m") == [waiting.pk]
    assert listed(client, age="2h") == [long.pk]
    assert listed(client, age="older") == [ancient.pk]


def test_tool_risk_and_requester_filters_narrow_the_queue(user, other_user, approver):
    mail = parked(user, tool="send_email")
    sql = parked(user, tool="run_sql", risk="medium")
    theirs = parked(other_user, tool="send_email")
    client = client_for(approver)
    assert listed(client, tool_name="run_sql") == [sql.pk]
    assert listed(client, risk="high") == sorted([mail.pk, theirs.pk])
    assert listed(client, requester__id__exact=other_user.pk) == [theirs.pk]


def test_a_row_shows_redacted_arguments_and_escapes_what_the_model_sent(user, approver):
    parked(user, tool='<img src=x onerror="alert(1)">',
           arguments={"api_key": "sk-live-123", "to": ["<script>alert(2)</script>"]})
    body = client_for(approver).get(reverse(QUEUE)).content.decode()
    assert "sk-live-123" not in body and "[REDACTED]" in body
    assert "<script>alert(2)</script>" not in body and "&lt;script&gt;alert(2)&lt;/script&gt;" in body
    assert '<img src=x onerror="alert(1)">' not in body and "&lt;img src=x onerror=" in body


def test_the_title_badge_counts_only_requests_this_approver_may_decide(user, approver):
    parked(user)
    parked(user, minutes=-1)  # expired, not yet swept
    parked(approver)  # their own: another approver must decide it
    body = client_for(approver).get(reverse(QUEUE)).content.decode()
    assert 'data-decidable="1"' in body
    assert 'id="toolgate-queue-strings"' in body


def test_the_live_fetch_leaves_messages_for_the_approvers_next_page(user, approver):
    parked(user)
    client = client_for(approver)
    request = parked(user)
    client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]),
                {"decision": "deny", "reason": "not now"})
    live = client.get(reverse(QUEUE), headers={LIVE_HEADER: "1"})
    assert "messagelist" not in live.content.decode()
    page = client.get(reverse(QUEUE)).content.decode()
    assert "messagelist" in page and f"#{request.pk} denied" in page


def _bulk(client, ids, **extra):
    return client.post(reverse(QUEUE), {"action": "deny_selected", "_selected_action": [str(i) for i in ids],
                                        **extra}, follow=False)


def test_bulk_deny_asks_for_one_reason_then_denies_each_request_through_the_decide_service(user, approver):
    first, second, third = parked(user), parked(user), parked(user)
    client = client_for(approver)
    form = _bulk(client, [first.pk, second.pk], index="0")
    assert form.status_code == 200
    assert "Deny 2 requests" in form.content.decode()
    assert ApprovalRequest.objects.filter(status="pending").count() == 3  # nothing yet

    refused = _bulk(client, [first.pk, second.pk], apply="1", reason="   ")
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    assert ApprovalRequest.objects.filter(status="pending").count() == 3

    done = _bulk(client, [first.pk, second.pk], apply="1", reason="no outside mail today")
    assert done.status_code == 302
    assert [str(m) for m in get_messages(done.wsgi_request)] == ["Denied 2 requests."]
    for request in (first, second):
        request.refresh_from_db()
        assert (request.status, request.reason, request.decided_by) == ("denied", "no outside mail today",
                                                                         approver)
    third.refresh_from_db()
    assert third.status == "pending"
    decided = AuditEvent.objects.filter(kind="approval.decided").order_by("seq")
    assert [(e.data["approval_id"], e.outcome, e.actor, e.data["reason"]) for e in decided] == [
        (first.pk, "denied", approver.username, "no outside mail today"),
        (second.pk, "denied", approver.username, "no outside mail today")]


def test_a_request_decided_meanwhile_is_reported_not_decided_twice(user, approver, django_user_model):
    carol = make_approver(django_user_model, "carol")
    first, second = parked(user), parked(user)
    client = client_for(approver)
    _bulk(client, [first.pk, second.pk], index="0")  # the reason form is open…
    services.decide(second.pk, carol, "approve")  # …while carol approves one of them
    done = _bulk(client, [first.pk, second.pk], apply="1", reason="too risky")
    notes = [str(m) for m in get_messages(done.wsgi_request)]
    assert notes[0] == "Denied 1 request."
    assert notes[1].startswith(
        f"Request #{second.pk} was not denied: This request was already approved by carol")
    second.refresh_from_db()
    assert (second.status, second.decided_by) == ("approved", carol)
    events = AuditEvent.objects.filter(kind="approval.decided")
    assert sorted((e.data["approval_id"], e.outcome) for e in events) == sorted(
        [(first.pk, "denied"), (second.pk, "approved")])


def test_bulk_deny_keeps_separation_of_duties(user, approver):
    theirs, mine = parked(user), parked(approver)
    done = _bulk(client_for(approver), [theirs.pk, mine.pk], apply="1", reason="cleanup")
    notes = [str(m) for m in get_messages(done.wsgi_request)]
    assert notes == ["Denied 1 request.", f"Request #{mine.pk} was not denied: You cannot decide your own "
                     "request: another approver must do it."]
    mine.refresh_from_db()
    assert mine.status == "pending"


def test_staff_without_the_decide_permission_get_no_bulk_deny(user, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("vic", "v@example.com", "pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_approvalrequest"))
    request = parked(user)
    client = client_for(viewer)
    assert "deny_selected" not in client.get(reverse(QUEUE)).content.decode()
    _bulk(client, [request.pk], apply="1", reason="sneaky")
    request.refresh_from_db()
    assert request.status == "pending"
    assert not AuditEvent.objects.filter(kind="approval.decided").exists()


def test_deny_many_refuses_an_empty_reason_before_touching_anything(user, approver):
    request = parked(user)
    with pytest.raises(services.DecisionError, match="Give a reason to deny"):
        services.deny_many([request.pk], approver, " ")
    request.refresh_from_db()
    assert request.status == "pending"


def test_deny_many_reports_an_unknown_id_and_denies_the_rest(user, approver):
    request = parked(user)
    outcome = services.deny_many([request.pk, 999_999], approver, "no")
    assert [r.pk for r in outcome.denied] == [request.pk]
    assert outcome.refused == [(999_999, "There is no such approval request.")]
