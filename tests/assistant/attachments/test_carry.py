"""Attachments across conversations: branches carry them, deletion keeps the files, and an
export names them while an import can only ever name the importer's own files.

Hostile imports are kept as tests: a path with ``..``, an absolute path, another user's
workspace, a symlink inside the importer's workspace that points out of it, a forged hash,
an attachment on a model turn. Each is refused with the reason, or shown as missing, and
nothing is linked that the importer does not own.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from approvals.models import AuditEvent
from assistant.attachments import service
from assistant.attachments.carry import delete_conversation
from assistant.attachments.models import Attachment
from assistant.models import Conversation, Message, Run
from assistant.runs import store
from assistant.runs.history import conversation_history
from assistant.transcript.branches import branch
from assistant.transcript.exchange import ExportFileError, export_json, export_markdown, import_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    return settings.TOOLS_WORKSPACE_ROOT


def sent_with_file(user, data: bytes = b"# Plan\nship it\n", name: str = "notes.md"):
    """A conversation whose first message carried one file and was answered."""
    convo = Conversation.objects.create(owner=user, profile="demo", title="Plans")
    attachment = service.add(user, convo, name, [data])
    started = store.start_run(convo, user, "summarise it", max_steps=3)
    Run.objects.filter(pk=started.run.pk).update(status=Run.Status.COMPLETED)
    Message.objects.create(conversation=convo, position=1, role="assistant", content="Shipping.")
    return convo, attachment


# -- branches ------------------------------------------------------------------------------


def test_a_branch_of_a_later_message_keeps_the_earlier_files_with_records_of_its_own(root, user):
    convo, attachment = sent_with_file(user)
    second = store.start_run(convo, user, "and then?", max_steps=3)
    Run.objects.filter(pk=second.run.pk).update(status=Run.Status.COMPLETED)
    copy = branch(convo, second.message.pk, "and after that?").conversation
    first = copy.messages.get(position=0)
    mine = Attachment.objects.get(conversation=copy)
    assert mine.pk != attachment.pk and mine.message == first
    assert (mine.path, mine.sha256, mine.size) == (attachment.path, attachment.sha256, attachment.size)
    assert first.attachments == [mine.summary()]
    # The original can go: the branch still has its record, and the model is still told.
    delete_conversation(user, convo)
    assert Attachment.objects.filter(pk=mine.pk).exists()
    assert f'"{attachment.path}"' in conversation_history(copy.pk)[0].content


def test_regenerating_a_message_with_files_attaches_them_to_the_message_sent_again(root, user):
    convo, attachment = sent_with_file(user)
    made = branch(convo, convo.messages.get(position=0).pk)
    waiting = Attachment.objects.get(conversation=made.conversation)
    assert waiting.message is None and waiting.path == attachment.path  # in the branch's composer
    started = store.start_run(made.conversation, user, made.text, max_steps=3)
    assert started.message.attachments == [waiting.summary()]
    assert f'"{attachment.path}"' in conversation_history(made.conversation.pk)[0].content


def test_a_file_removed_before_branching_stays_removed_in_the_branch(root, user):
    convo, attachment = sent_with_file(user)
    service.remove(user, attachment.pk)
    made = branch(convo, convo.messages.get(position=0).pk)
    assert not Attachment.objects.filter(conversation=made.conversation).exists()
    assert store.start_run(made.conversation, user, made.text, max_steps=3).message.attachments is None


def test_removing_a_file_marks_it_removed_in_every_branch_that_names_it(root, user):
    convo, attachment = sent_with_file(user)
    second = store.start_run(convo, user, "and then?", max_steps=3)
    Run.objects.filter(pk=second.run.pk).update(status=Run.Status.COMPLETED)
    copy = branch(convo, second.message.pk).conversation
    service.remove(user, attachment.pk)
    assert Attachment.objects.get(conversation=copy).removed  # the file is gone for both


# -- deletion ------------------------------------------------------------------------------


def test_deleting_a_conversation_deletes_its_records_keeps_its_files_and_audits_each(root, user):
    convo, attachment = sent_with_file(user)
    pending = service.add(user, convo, "later.txt", [b"not sent yet\n"])
    removed = service.add(user, convo, "gone.txt", [b"bye\n"])
    service.remove(user, removed.pk)
    kept = delete_conversation(user, convo)
    assert sorted(a.pk for a in kept) == sorted([attachment.pk, pending.pk])
    assert not Attachment.objects.exists() and not Conversation.objects.exists()
    workspace = root / str(user.pk)
    assert (workspace / attachment.path).read_bytes() == b"# Plan\nship it\n"
    assert (workspace / pending.path).read_bytes() == b"not sent yet\n"
    events = AuditEvent.objects.filter(kind="attachment.released")
    assert sorted(e.data["path"] for e in events) == sorted([attachment.path, pending.path])
    assert {e.outcome for e in events} == {"kept"}


def test_the_delete_page_says_where_the_files_stay(root, user, client):
    convo, attachment = sent_with_file(user)
    client.force_login(user)
    response = client.post(f"/c/{convo.pk}/delete/", follow=True)
    folder = attachment.path.rpartition("/")[0] + "/"
    assert f"Its attached file stays in your workspace ({folder})." in response.content.decode()
    assert not Attachment.objects.exists()
    assert (root / str(user.pk) / attachment.path).exists()


# -- export and import ---------------------------------------------------------------------


def test_both_exports_name_each_messages_files(root, user):
    convo, attachment = sent_with_file(user)
    data = export_json(convo)
    assert data["messages"][0]["attachments"] == [{
        "name": "notes.md", "path": attachment.path, "size": 15,
        "sha256": hashlib.sha256(b"# Plan\nship it\n").hexdigest(), "removed": False, "missing": False}]
    assert data["messages"][1]["attachments"] == []
    text = export_markdown(convo)
    assert f"- `notes.md` — `{attachment.path}`, 15 bytes" in text
    service.remove(user, attachment.pk)
    assert export_json(convo)["messages"][0]["attachments"][0]["removed"] is True
    assert f"`{attachment.path}`, 15 bytes (removed)" in export_markdown(convo)


def test_importing_your_own_export_links_the_files_in_your_workspace(root, user):
    convo, attachment = sent_with_file(user)
    copy = import_conversation(user, json.dumps(export_json(convo)))
    linked = Attachment.objects.get(conversation=copy)
    assert linked.owner == user and linked.path == attachment.path and linked.sha256 == attachment.sha256
    assert copy.messages.get(position=0).attachments == [linked.summary()]
    assert f'"{attachment.path}"' in conversation_history(copy.pk)[0].content


def test_another_users_export_never_reaches_their_files(root, user, other_user):
    convo, attachment = sent_with_file(user)
    copy = import_conversation(other_user, export_json(convo))
    assert not Attachment.objects.filter(conversation=copy).exists()
    assert copy.messages.get(position=0).attachments == [
        {"id": "", "name": "notes.md", "path": attachment.path, "size": 15, "missing": True}]
    # The model is not told to read a file the importer does not have.
    assert conversation_history(copy.pk)[0].content == "summarise it"


def test_a_forged_hash_links_nothing_even_in_your_own_workspace(root, user):
    convo, attachment = sent_with_file(user)
    data = export_json(convo)
    data["messages"][0]["attachments"][0]["sha256"] = "0" * 64
    copy = import_conversation(user, data)
    assert not Attachment.objects.filter(conversation=copy).exists()
    assert copy.messages.get(position=0).attachments[0]["missing"] is True


def export_naming(path: str) -> dict:
    return {"format": "toolgate.conversation", "version": 1, "conversation": {"title": "x"},
            "messages": [{"role": "user", "content": "read it", "attachments": [
                {"name": "x.txt", "path": path, "size": 4, "sha256": "a" * 64}]}]}


@pytest.mark.parametrize(("path", "error"), [
    ("../mallory/secret.txt", "points outside your workspace"),
    ("../../../etc/passwd", "points outside your workspace"),
    ("/etc/passwd", "is absolute; paths are relative to your workspace"),
    ("notes/../../x.txt", "points outside your workspace"),
    ("a\x00b.txt", "path contains a NUL byte"),
    ("a\ud800.txt", "Input should be a valid string"),  # a lone surrogate (refused by the schema)
])
def test_a_forged_path_outside_the_importers_workspace_is_refused(root, user, other_user, path, error):
    theirs = root / str(other_user.pk)
    theirs.mkdir(parents=True)
    (theirs / "secret.txt").write_text("mine")
    with pytest.raises(ExportFileError, match="messages.0.attachments.0.path: .*" + error):
        import_conversation(user, export_naming(path))
    assert not Conversation.objects.exists() and not Attachment.objects.exists()


def test_a_symlink_in_your_workspace_pointing_at_another_users_file_is_refused(root, user, other_user):
    theirs = root / str(other_user.pk)
    theirs.mkdir(parents=True)
    (theirs / "secret.txt").write_text("mine")
    workspace = root / str(user.pk)
    workspace.mkdir(parents=True)
    os.symlink(theirs / "secret.txt", workspace / "link.txt")
    data = export_naming("link.txt")
    data["messages"][0]["attachments"][0]["sha256"] = hashlib.sha256(b"mine").hexdigest()
    with pytest.raises(ExportFileError, match="goes through a symbolic link that points outside"):
        import_conversation(user, data)
    assert not Conversation.objects.exists() and not Attachment.objects.exists()


def test_attachments_on_a_model_turn_are_refused(root, user):
    data = export_naming("x.txt")
    data["messages"].append({"role": "assistant", "content": "ok",
                             "attachments": [{"name": "y.txt", "path": "y.txt"}]})
    with pytest.raises(ExportFileError, match=r"messages\.1\.attachments: only a user message can carry"):
        import_conversation(user, data)
    assert not Conversation.objects.exists()


def test_a_removed_file_is_imported_as_removed_without_touching_the_workspace(root, user):
    convo, attachment = sent_with_file(user)
    data = export_json(convo)
    service.remove(user, attachment.pk)
    data["messages"][0]["attachments"][0]["removed"] = True
    copy = import_conversation(user, data)
    assert Attachment.objects.get(conversation=copy).removed
    assert not (root / str(user.pk) / attachment.path).exists()


def test_the_page_shows_a_missing_file_as_not_in_your_workspace_without_a_remove_button(root, user,
                                                                                      other_user, client):
    convo, _attachment = sent_with_file(user)
    copy = import_conversation(other_user, export_json(convo))
    client.force_login(other_user)
    page = client.get(f"/c/{copy.pk}/").content.decode()
    chips = page.split('msg-attachments"', 1)[1].split("</ul>", 1)[0]
    assert "notes.md" in chips and "not in your workspace" in chips and 'class="chip-remove"' not in chips
