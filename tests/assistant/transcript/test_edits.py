"""An approver's edit as the chat shows it: what ran, who changed it, field by field."""

from __future__ import annotations

import json

from approvals.models import ApprovalRequest
from assistant.transcript.edits import changes, edit_payload
from tools.models import ToolCall

ASKED = {"to": ["sam@example.com"], "subject": "Hi", "body": "hello"}


def test_changes_list_each_changed_field_with_json_before_and_after():
    ran = {"to": ["kim@example.com"], "subject": "Hi", "body": "hello", "cc": ["x@example.com"]}
    assert changes(ASKED, ran) == [
        {"field": "to", "before": '["sam@example.com"]', "after": '["kim@example.com"]'},
        {"field": "cc", "before": None, "after": '["x@example.com"]'},
    ]
    assert changes(ASKED, {"to": ["sam@example.com"]}) == [
        {"field": "subject", "before": '"Hi"', "after": None},
        {"field": "body", "before": '"hello"', "after": None},
    ]


def test_an_approval_without_edits_or_with_identical_ones_shows_no_edit():
    record = ToolCall(status=ToolCall.Status.SUCCEEDED, arguments=ASKED)
    assert edit_payload(None, record) is None
    assert edit_payload(ApprovalRequest(arguments=ASKED, edited_arguments=None), record) is None
    assert edit_payload(ApprovalRequest(arguments=ASKED, edited_arguments=dict(ASKED)), record) is None


def test_the_edit_shows_what_ran_which_is_the_records_redacted_arguments():
    ran = {**ASKED, "to": ["kim@example.com"], "body": "[REDACTED]"}
    approval = ApprovalRequest(arguments=ASKED, edited_arguments={**ASKED, "to": ["kim@example.com"]})
    shown = edit_payload(approval, ToolCall(status=ToolCall.Status.SUCCEEDED, arguments=ran))
    assert shown is not None and json.loads(shown["arguments"]) == ran
    assert [c["field"] for c in shown["changes"]] == ["to", "body"]
    # Not run yet (still parked): the edit itself is what will run.
    parked = edit_payload(approval, ToolCall(status=ToolCall.Status.PENDING, arguments=ASKED))
    assert parked is not None and json.loads(parked["arguments"])["to"] == ["kim@example.com"]
