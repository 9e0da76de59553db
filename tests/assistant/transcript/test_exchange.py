"""Export as Markdown and JSON (calls, results, approvals included); import the JSON back."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from approvals.models import ApprovalRequest
from assistant.models import Conversation, Message
from assistant.runs.engine import Engine
from assistant.runs.history import conversation_history
from assistant.transcript.exchange import ExportFileError, export_json, export_markdown, import_conversation
from tools.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chatted(user):
    """A demo conversation with a tool call (calculator) and an answer."""
    conversation = Conversation.objects.create(owner=user, profile="demo", title="Sums")
    async_to_sync(Engine().send)(conversation, user, "what is 12*7")
    return conversation


def test_the_json_export_holds_messages_calls_results_and_records(chatted):
    data = export_json(chatted)
    assert (data["format"], data["version"]) == ("toolgate.conversation", 1)
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "tool", "assistant"]
    call = data["messages"][1]["tool_calls"][0]
    assert call["name"] == "calculator" and json.loads(call["arguments"]) == {"expression": "12*7"}
    assert json.loads(data["messages"][2]["tool_results"][0]["content"])["result"] == 84
    record = data["tool_calls"][0]
    assert record["call_id"] == call["id"] and record["status"] == "succeeded" and record["approval"] is None


def test_the_markdown_export_reads_as_a_transcript(chatted):
    text = export_markdown(chatted)
    assert text.startswith("# Sums\n")
    assert "## You" in text and "what is 12*7" in text and "## Assistant" in text
    assert "**Tool call `calculator`** (succeeded)" in text and '"expression": "12*7"' in text
    assert "12*7 = 84" in text


def test_approvals_are_in_both_exports(user, settings):
    conversation = Conversation.objects.create(owner=user, profile="demo", title="Mail")
    async_to_sync(Engine().send)(conversation, user, "email sam@example.com saying hi")
    request = ApprovalRequest.objects.get()
    data = export_json(conversation)
    assert data["tool_calls"][0]["approval"]["status"] == request.status == "pending"
    assert "Approval: pending" in export_markdown(conversation)


def test_an_import_continues_where_the_export_ended(chatted, other_user):
    exported = json.dumps(export_json(chatted))
    copy = import_conversation(other_user, exported)
    assert copy.owner == other_user and copy.title == "Sums" and copy.pk != chatted.pk
    assert conversation_history(copy.pk) == conversation_history(chatted.pk)
    async_to_sync(Engine().send)(copy, other_user, "note: imported fine")  # it can be continued
    assert Note.objects.filter(owner=other_user, text__icontains="imported fine").exists()


@pytest.mark.parametrize(("raw", "error"), [
    (b"not json", "The file is not JSON"),
    (b'{"format": "other", "version": 1}', "Not a Toolgate conversation export: format:"),
    (b'{"format": "toolgate.conversation", "version": 1, "conversation": {}, '
     b'"messages": [{"role": "system", "content": "x"}]}', "messages.0.role"),
])
def test_a_bad_file_is_refused_with_the_reason_and_nothing_is_stored(user, raw, error):
    with pytest.raises(ExportFileError, match=error):
        import_conversation(user, raw)
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_unanswered_tool_calls_are_refused_so_the_import_could_be_continued(user):
    data = {"format": "toolgate.conversation", "version": 1, "conversation": {"title": "x"}, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": "c1", "name": "calculator", "arguments": "{}"}]},
        {"role": "user", "content": "hello?"},
    ]}
    with pytest.raises(ExportFileError, match=r"messages\.1: the tool calls c1 are not answered"):
        import_conversation(user, data)
    assert not Conversation.objects.exists()
