"""The ToolCall admin is a read-only window on the audit trail."""

import pytest
from django.urls import reverse

from tools.models import Note, ToolCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(user):
    return ToolCall.objects.create(
        call_id="call_abc", user=user, username=user.username, tool_name="web_fetch", risk="medium",
        raw_arguments='{"url": "https://example.com"}', arguments={"url": "https://example.com"},
        status=ToolCall.Status.SUCCEEDED, result={"html": "<script>alert('x')</script>", "n": 1},
        duration_ms=12.5,
    )


def test_changelist_shows_the_columns(admin_client, record):
    response = admin_client.get(reverse("admin:tools_toolcall_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "web_fetch" in body and "alice" in body and "12.5" in body


@pytest.mark.parametrize("query", [
    {"status__exact": "succeeded"}, {"tool_name": "web_fetch"}, {"risk": "medium"}, {"q": "call_abc"},
])
def test_changelist_filters_and_search_work(admin_client, record, query):
    response = admin_client.get(reverse("admin:tools_toolcall_changelist"), query)
    assert response.status_code == 200 and "web_fetch" in response.content.decode()


def test_search_finds_by_call_id_and_username(admin_client, record):
    url = reverse("admin:tools_toolcall_changelist")
    for query, count in (("call_abc", 1), ("alice", 1), ("web_", 1), ("nobody-here", 0)):
        assert admin_client.get(url, {"q": query}).context["cl"].result_count == count


def test_detail_page_pretty_prints_and_escapes_json(admin_client, record):
    response = admin_client.get(reverse("admin:tools_toolcall_change", args=[record.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    # (jsonb, on PostgreSQL, keeps keys in its own order: look for the indentation, not the first key)
    assert '<pre class="toolgate-pre">{\n  &quot;' in body
    assert '\n  &quot;html&quot;: &quot;&lt;script&gt;' in body
    assert 'name="status"' not in body  # nothing is editable


def test_nobody_may_add_change_or_delete_a_record(admin_client, record):
    assert admin_client.get(reverse("admin:tools_toolcall_add")).status_code == 403
    assert admin_client.post(reverse("admin:tools_toolcall_add"), {"tool_name": "x"}).status_code == 403
    change = admin_client.post(reverse("admin:tools_toolcall_change", args=[record.pk]),
                               {"status": "failed", "tool_name": "forged"})
    assert change.status_code == 403
    assert admin_client.get(reverse("admin:tools_toolcall_delete", args=[record.pk])).status_code == 403
    assert admin_client.post(reverse("admin:tools_toolcall_delete", args=[record.pk]),
                             {"post": "yes"}).status_code == 403
    admin_client.post(reverse("admin:tools_toolcall_changelist"),
                      {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})
    record.refresh_from_db()
    assert record.status == ToolCall.Status.SUCCEEDED and record.tool_name == "web_fetch"


def test_pending_arguments_are_never_shown(admin_client, user):
    parked = ToolCall.objects.create(call_id="c", user=user, tool_name="send_email", status="pending",
                                     arguments={"password": "[REDACTED]"},
                                     pending_arguments={"password": "hunter2"})
    body = admin_client.get(reverse("admin:tools_toolcall_change", args=[parked.pk])).content.decode()
    assert "hunter2" not in body and "[REDACTED]" in body


def test_staff_without_view_permission_cannot_see_records(client, django_user_model, record):
    staff = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:tools_toolcall_changelist")).status_code == 403


def test_note_admin_lists_notes(admin_client, user):
    Note.objects.create(owner=user, text="buy milk")
    response = admin_client.get(reverse("admin:tools_note_changelist"))
    assert response.status_code == 200 and "buy milk" in response.content.decode()


def test_changelist_says_which_mode_the_run_python_sandbox_is_in(admin_client, settings):
    from tests.tools.builtin.conftest import require_isolation

    require_isolation()
    body = admin_client.get(reverse("admin:tools_toolcall_changelist")).content.decode()
    assert "run_python sandbox: <strong>isolated</strong> — bubblewrap (/usr/bin/bwrap)" in body
    settings.TOOLS_SANDBOX_BWRAP = "/nonexistent/bwrap"
    body = admin_client.get(reverse("admin:tools_toolcall_changelist")).content.decode()
    assert "run_python sandbox: <strong>off</strong> — run_python is off: " in body
    assert "no bubblewrap executable at /nonexistent/bwrap" in body
