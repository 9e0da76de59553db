"""Any Python string can be saved: NUL and lone surrogates are stored as U+FFFD, on SQLite and
PostgreSQL alike (the suite runs on both), through every way a value reaches the database."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from approvals import audit
from approvals.models import AuditEvent
from assistant.models import Conversation, Message
from tools.dbfields import has_unstorable, storable
from tools.models import ToolCall

pytestmark = pytest.mark.django_db

HOSTILE = "a\x00b\ud800c"
STORED = "a\ufffdb\ufffdc"


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", False), ("emoji \U0001f600 is a valid pair once decoded", False),
    ("\x00", True), ("x\udc79", True), ("\ud800", True),
])
def test_has_unstorable_finds_nul_and_lone_surrogates_only(text, expected):
    assert has_unstorable(text) is expected


def test_storable_replaces_in_strings_keys_and_nested_containers():
    value = {"k\x00": [HOSTILE, {"deep": ("\x00",)}], "n": 1, "none": None}
    assert storable(value) == {"k\ufffd": [STORED, {"deep": ("\ufffd",)}], "n": 1, "none": None}


def test_storable_returns_the_same_object_when_nothing_needs_replacing():
    value = {"a": ["b", {"c": 1.5}], "d": ("e",)}
    assert storable(value) is value
    assert storable("clean") == "clean"


def test_a_tool_call_with_nul_everywhere_is_saved_and_reads_back_replaced(user):
    record = ToolCall.objects.create(
        call_id="c\x00", user=user, tool_name="echo", raw_arguments='{"t": "a\x00"}',
        arguments={"t\x00": HOSTILE}, status=ToolCall.Status.SUCCEEDED, result=[HOSTILE],
        error={"message": HOSTILE})
    record.refresh_from_db()
    assert record.call_id == "c\ufffd" and record.raw_arguments == '{"t": "a\ufffd"}'
    assert record.arguments == {"t\ufffd": STORED}
    assert record.result == [STORED] and record.error == {"message": STORED}


def test_update_and_bulk_create_replace_too(user):
    conversation = Conversation.objects.create(owner=user, profile="demo", title="t")
    Conversation.objects.filter(pk=conversation.pk).update(title=HOSTILE)
    Message.objects.bulk_create([Message(conversation=conversation, position=0, role="assistant",
                                         content=HOSTILE, tool_calls=[{"name": HOSTILE}])])
    conversation.refresh_from_db()
    message = Message.objects.get(conversation=conversation)
    assert conversation.title == STORED
    assert message.content == STORED and message.tool_calls == [{"name": STORED}]


def test_an_audit_event_with_nul_in_its_data_still_verifies():
    audit.record(audit.Entry(kind="call.succeeded", tool_name="echo\x00", username=HOSTILE,
                             data={"result": HOSTILE, "key\x00": 1}))
    stored = AuditEvent.objects.order_by("-seq").first()
    assert stored.username == STORED and stored.data == {"result": STORED, "key\ufffd": 1}
    assert audit.verify().ok
    call_command("audit", "verify")  # exits non-zero on a broken chain


def test_a_result_digest_matches_the_stored_result():
    assert audit.digest([HOSTILE]) == audit.digest([STORED])
