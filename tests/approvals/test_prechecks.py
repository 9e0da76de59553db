"""Calls a built-in tool would refuse never wait for a human (issue 10.6).

The policy parks every call of the tool for approval; the tool's pre-check (SQL compiles
and is read-only, a path stays in the workspace, a URL is allowed) runs first, through the
real pipeline and the real gate, so such a call fails at once with the tool's own error
and no ApprovalRequest is opened.
"""

from __future__ import annotations

import pytest

from approvals import services
from approvals.models import ApprovalRequest, AuditEvent, ToolPolicy
from tests.approvals.helpers import make_approver
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandboxed(settings, tmp_path):
    settings.TOOLS_SAMPLE_DB_PATH = tmp_path / "sample.sqlite3"
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com", "127.0.0.1"]


def always_park(*tools):
    for name in tools:
        ToolPolicy.objects.create(tool_name=name, approval="always")


def call(user, name, arguments):
    return Pipeline().call_sync(ToolCallRequest(name, arguments), ToolContext(user=user))


def test_a_read_only_delete_is_refused_at_once_and_never_parked(user):
    always_park("query_database")
    result = call(user, "query_database", {"sql": "delete from customers"})
    assert result.status == "error" and result.error.type == "validation_error"
    assert result.error.message == (
        "invalid arguments for query_database: DELETE from customers is not allowed: the database "
        "is read-only")
    assert not ApprovalRequest.objects.exists()
    row = ToolCall.objects.get(pk=result.record_id)
    assert row.status == ToolCall.Status.REJECTED and row.gate_action == ""
    assert list(AuditEvent.objects.filter(tool_call_id=row.pk).values_list("kind", flat=True)) == [
        "call.proposed", "call.validated", "call.rejected"]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELEC * FROM customers", 'SQLite rejected the query: near "SELEC"'),
    ("SELECT 1; DELETE FROM orders", "sql contains more than one statement"),
    ("PRAGMA table_info(customers)", "PRAGMA table_info is not allowed"),
    ("SELECT * FROM customers WHERE id = ?", "wrong number of parameters"),
])
def test_queries_the_tool_would_refuse_are_refused_before_the_gate(user, sql, message):
    always_park("query_database")
    result = call(user, "query_database", {"sql": sql})
    assert result.error.type == "validation_error" and message in result.error.message
    assert not ApprovalRequest.objects.exists()


def test_a_valid_query_is_still_parked_and_nothing_is_read_before_approval(user):
    always_park("query_database")
    result = call(user, "query_database", {"sql": "SELECT name FROM customers WHERE id = ?", "params": [1]})
    assert result.status == "pending"
    assert ApprovalRequest.objects.get().tool_call_id == result.record_id


def test_a_path_outside_the_workspace_is_refused_before_the_gate(user, settings):
    always_park("read_file", "write_file")
    for name, arguments in [("read_file", {"path": "../../etc/passwd"}),
                            ("write_file", {"path": "/etc/cron.d/x", "content": "boom"})]:
        result = call(user, name, arguments)
        assert result.error.type == "validation_error", result.error
        assert "outside your workspace" in result.error.message or "is absolute" in result.error.message
    assert not ApprovalRequest.objects.exists()
    assert not (settings.TOOLS_WORKSPACE_ROOT / str(user.pk)).exists()  # the pre-check created nothing
    assert call(user, "write_file", {"path": "notes/a.txt", "content": "hi"}).status == "pending"


def test_a_url_the_http_tool_would_refuse_is_refused_before_the_gate_without_connecting(user):
    always_park("http_get")
    not_listed = call(user, "http_get", {"url": "https://evil.test/steal"})
    assert not_listed.error.type == "validation_error"
    assert "evil.test is not in the list of hosts this tool may contact" in not_listed.error.message
    loopback = call(user, "http_get", {"url": "http://127.0.0.1/admin"})
    assert loopback.error.type == "execution_error"
    assert "refused to connect to 127.0.0.1: 127.0.0.1 is" in loopback.error.message
    assert not ApprovalRequest.objects.exists()
    # An allowed host is parked: the pre-check neither resolves nor connects.
    assert call(user, "http_get", {"url": "https://example.com/"}).status == "pending"


def test_an_approvers_edit_into_a_write_is_refused_with_the_sql_tools_error(user, django_user_model):
    always_park("query_database")
    parked = call(user, "query_database", {"sql": "SELECT count(*) FROM customers"})
    request = ApprovalRequest.objects.get(tool_call_id=parked.record_id)
    approver = make_approver(django_user_model)
    with pytest.raises(services.DecisionError, match=(
            "The edited arguments are not valid for query_database: sql: DELETE from customers is not "
            "allowed: the database is read-only")):
        services.decide(request.pk, approver, services.APPROVE,
                        edited_arguments={"sql": "DELETE FROM customers"})
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    assert AuditEvent.objects.get(kind="approval.edit_refused").outcome == "validation_error"
