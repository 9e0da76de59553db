"""The audit log in the admin: a read-only list with filters, each event, and timelines."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from approvals import audit
from approvals.audit import Entry
from approvals.models import AuditEvent, ToolPolicy

pytestmark = pytest.mark.django_db

CONVO = "5b0c6f0e-2f6a-4a54-9a55-0d7f1d3b9a11"
OTHER = "9d1e1c3a-0000-4000-8000-000000000000"
LIST = "admin:approvals_auditevent_changelist"


def call_events(call_id: int, tool: str, username: str, conversation: str, last: tuple[str, str],
                data: dict | None = None) -> list[AuditEvent]:
    base = {"tool_call_id": call_id, "tool_name": tool, "user_id": 1, "username": username,
            "conversation_id": conversation}
    return audit.record(
        Entry("call.proposed", data={"raw_arguments_sha256": "ab" * 32}, **base),
        Entry("call.validated", data=data or {"arguments": {"to": "bob"}}, **base),
        Entry("policy.decided", outcome="allow", data={"rule": "risk:low"}, **base),
        Entry(last[0], outcome=last[1], **base),
    )


@pytest.fixture
def log() -> list[AuditEvent]:
    events = call_events(11, "send_email", "alice", CONVO, ("call.succeeded", "succeeded"),
                         data={"arguments": {"body": "<script>alert('x')</script>"}})
    events += call_events(12, "web_fetch", "alice", CONVO, ("call.failed", "timeout"))
    events += call_events(13, "web_fetch", "mallory", OTHER, ("call.denied", "denied"))
    events += audit.record(Entry("policy.changed", tool_name="send_email", username="root", actor="root",
                                 outcome="changed", data={"changes": {"approval": ["by_risk", "always"]}}))
    return events


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_user("auditor", password="pw-auditor-123", is_staff=True)
    client.force_login(staff)
    client.user = staff
    return client


def count(client, **query) -> int:
    response = client.get(reverse(LIST), query)
    assert response.status_code == 200
    return len(response.context["cl"].result_list)


def test_the_list_shows_events_newest_first_with_links_to_timelines(admin_client, log):
    response = admin_client.get(reverse(LIST))
    assert response.status_code == 200
    seqs = [e.seq for e in response.context["cl"].result_list]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 13
    body = response.content.decode()
    assert reverse("admin:approvals_auditevent_timeline", args=[CONVO]) in body
    assert "?tool_call_id=12" in body


@pytest.mark.parametrize("query, expected", [
    ({"kind": "call.failed"}, 1),
    ({"kind": "policy.decided"}, 3),
    ({"outcome": "timeout"}, 1),
    ({"tool_name": "web_fetch"}, 8),
    ({"username": "mallory"}, 4),
    ({"username": "root"}, 1),
    ({"tool_call_id": "12"}, 4),
    ({"conversation_id": OTHER}, 4),
    ({"q": "mallory"}, 4),
    ({"q": "13"}, 4),
    ({"q": "nothing-matches-this"}, 0),
])
def test_filters_and_search_narrow_the_list(admin_client, log, query, expected):
    assert count(admin_client, **query) == expected


def test_the_date_filters_work(admin_client, log):
    today = timezone.now()
    assert count(admin_client, created_at__year=today.year, created_at__month=today.month,
                 created_at__day=today.day) == 13
    assert count(admin_client, created_at__year=today.year - 1) == 0
    midnight = timezone.localtime(today).replace(hour=0, minute=0, second=0, microsecond=0)
    assert count(admin_client, created_at__gte=midnight.isoformat()) == 13
    assert count(admin_client, created_at__gte=today.replace(year=today.year + 1).isoformat()) == 0


def test_the_filter_sidebar_offers_kinds_outcomes_tools_and_users(admin_client, log, user, other_user):
    body = admin_client.get(reverse(LIST)).content.decode()
    for choice in ("?kind=call.denied", "?outcome=timeout", "?tool_name=web_fetch", "?username=mallory",
                   "?username=alice"):
        assert choice in body


def test_the_user_filter_finds_what_happened_to_and_what_was_done_by_a_user(admin_client, log):
    audit.record(Entry("approval.decided", tool_call_id=11, username="alice", actor="bob",
                       outcome="approved"))
    assert count(admin_client, username="bob") == 1
    assert count(admin_client, username="alice") == 9


def test_the_timeline_lists_one_conversation_in_order_grouped_by_call(admin_client, log):
    response = admin_client.get(reverse("admin:approvals_auditevent_timeline", args=[CONVO]))
    assert response.status_code == 200
    groups = response.context["groups"]
    assert [(g.tool_call_id, g.tool_name, g.outcome) for g in groups] == [
        (11, "send_email", "call.succeeded"), (12, "web_fetch", "call.failed")]
    assert [e.kind for e in groups[0].events] == ["call.proposed", "call.validated", "policy.decided",
                                                  "call.succeeded"]
    seqs = [e.seq for g in groups for e in g.events]
    assert seqs == sorted(seqs)
    body = response.content.decode()
    assert "mallory" not in body  # another conversation's events are not shown
    assert "<script>alert" not in body and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert reverse("admin:approvals_auditevent_change", args=[log[0].pk]) in body


def test_a_timeline_with_no_events_says_so(admin_client, log):
    response = admin_client.get(reverse("admin:approvals_auditevent_timeline", args=["no-such-conversation"]))
    assert response.status_code == 200
    assert "No audit events for this conversation." in response.content.decode()


def test_an_event_page_pretty_prints_and_escapes_its_data_and_edits_nothing(admin_client, log):
    event = log[1]
    response = admin_client.get(reverse("admin:approvals_auditevent_change", args=[event.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<pre class="toolgate-pre">{\n  &quot;arguments&quot;: {\n' in body
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert event.hash in body and event.prev_hash in body
    assert reverse("admin:approvals_auditevent_timeline", args=[CONVO]) in body
    assert 'name="_save"' not in body and "<textarea" not in body and "deletelink" not in body


def test_nobody_may_add_change_or_delete_an_event_not_even_a_superuser(admin_client, log):
    event = log[0]
    change = reverse("admin:approvals_auditevent_change", args=[event.pk])
    delete = reverse("admin:approvals_auditevent_delete", args=[event.pk])
    assert admin_client.get(reverse("admin:approvals_auditevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:approvals_auditevent_add"), {"kind": "forged"}).status_code == 403
    assert admin_client.post(change, {"kind": "forged", "outcome": "forged"}).status_code == 403
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    admin_client.post(reverse(LIST), {"action": "delete_selected", "_selected_action": [event.pk],
                                      "post": "yes"})
    body = admin_client.get(reverse(LIST)).content.decode()
    assert reverse("admin:approvals_auditevent_add") not in body and 'name="action"' not in body
    assert AuditEvent.objects.count() == 13 and AuditEvent.objects.get(pk=event.pk).kind == "call.proposed"
    assert audit.verify().ok


def test_someone_who_is_not_staff_is_sent_to_the_login_page(client, user, log):
    client.force_login(user)
    for url in (reverse(LIST), reverse("admin:approvals_auditevent_timeline", args=[CONVO]),
                reverse("admin:approvals_auditevent_change", args=[log[0].pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_the_view_permission_cannot_see_the_log(staff_client, log):
    assert staff_client.get(reverse(LIST)).status_code == 403
    assert staff_client.get(reverse("admin:approvals_auditevent_timeline", args=[CONVO])).status_code == 403
    assert staff_client.get(reverse("admin:approvals_auditevent_change", args=[log[0].pk])).status_code == 403


def test_staff_with_the_view_permission_can_read_but_not_change(staff_client, log):
    staff_client.user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert staff_client.get(reverse(LIST)).status_code == 200
    assert staff_client.get(reverse("admin:approvals_auditevent_timeline", args=[CONVO])).status_code == 200
    change = reverse("admin:approvals_auditevent_change", args=[log[0].pk])
    assert staff_client.get(change).status_code == 200
    assert staff_client.post(change, {"kind": "forged"}).status_code == 403


def test_policy_edits_in_the_admin_land_in_the_log_with_old_and_new_values(admin_client):
    tool_policy = ToolPolicy.objects.create(tool_name="send_email", approval="by_risk")
    ops = Group.objects.create(name="ops")
    response = admin_client.post(reverse("admin:approvals_toolpolicy_change", args=[tool_policy.pk]), {
        "tool_name": "send_email", "enabled": "on", "approval": "always", "rate_limit": "5/m",
        "allowed_groups": [ops.pk], "scope_max_calls": "5", "scope_max_minutes": "30",
        "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 302
    event = AuditEvent.objects.get(kind="policy.changed")
    assert (event.actor, event.outcome, event.tool_name) == ("admin", "changed", "send_email")
    assert event.data["changes"] == {"approval": ["by_risk", "always"], "rate_limit": ["", "5/m"],
                                     "allowed_groups": [[], ["ops"]]}
    admin_client.post(reverse("admin:approvals_toolpolicy_delete", args=[tool_policy.pk]), {"post": "yes"})
    deleted = AuditEvent.objects.filter(kind="policy.changed").last()
    assert deleted.outcome == "deleted" and deleted.data["deleted"]["approval"] == "always"
    assert audit.verify().ok
