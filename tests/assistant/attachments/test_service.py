"""Attachments land in the user's workspace, where read_file reads them — and nowhere else.

Hostile uploads are kept as tests: path traversal, absolute paths, NUL bytes, unicode
tricks, oversize files, a binary disguised by its extension, another user's attachment,
a name that collides with an existing file, a symlink planted where the folder should be.
Each refusal says why and stores nothing (no file, no record, no audit event).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from approvals.models import AuditEvent
from assistant.attachments import service
from assistant.attachments.models import Attachment
from assistant.attachments.names import Refused
from assistant.models import Conversation
from assistant.runs import store
from assistant.runs.history import conversation_history
from tools import ToolContext
from tools.builtin.files import read_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.ATTACHMENTS_MAX_BYTES = 1000
    settings.ATTACHMENTS_MAX_PENDING = 3
    return settings.TOOLS_WORKSPACE_ROOT


@pytest.fixture
def convo(user):
    return Conversation.objects.create(owner=user, profile="demo")


def attach(user, convo, name: str, data: bytes = b"hello\n", **kwargs) -> Attachment:
    return service.add(user, convo, name, [data], **kwargs)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def nothing_stored(root: Path) -> bool:
    return (not Attachment.objects.exists() and not files_under(root)
            and not AuditEvent.objects.filter(kind__startswith="attachment.").exists())


def test_an_attachment_is_readable_with_read_file(root, user, convo):
    attachment = attach(user, convo, "notes.md", b"# Plan\nship it\n")
    assert attachment.path == f"attachments/{convo.pk.hex[:12]}/notes.md"
    assert read_file.fn(ToolContext(user=user), path=attachment.path)["content"] == "# Plan\nship it\n"
    assert (root / str(user.pk) / attachment.path).stat().st_mode & 0o777 == 0o600
    event = AuditEvent.objects.get(kind="attachment.added")
    assert (event.user_id, event.outcome, event.data["path"]) == (user.pk, "stored", attachment.path)


@pytest.mark.parametrize(("raw", "stored"), [
    ("../../x.txt", "x.txt"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("C:\\Windows\\win.ini", "win.ini"),
    ("..\\..\\evil.md", "evil.md"),
    ("a\x00b.txt", "ab.txt"),
    ("re\u202eport\u202dtxt.md", "reporttxt.md"),  # right-to-left overrides dropped: it is .md
    # fullwidth look-alikes become plain letters
    ("\uff4e\uff4f\uff54\uff45\uff53\uff0e\uff54\uff58\uff54", "notes.txt"),
    ("<img src=x onerror=alert(1)>.txt", "img src_x onerror_alert_1.txt"),
    ("..hidden.txt", "hidden.txt"),  # never a dot-file
    ("-_.txt", "file.txt"),
    ("  spaced   name  .TXT ", "spaced name.txt"),
])
def test_a_hostile_name_becomes_one_plain_file_in_the_folder(root, user, convo, raw, stored):
    attachment = attach(user, convo, raw)
    assert attachment.name == stored
    assert attachment.path == f"attachments/{convo.pk.hex[:12]}/{stored}"
    assert files_under(root) == [f"{user.pk}/{attachment.path}"]


@pytest.mark.parametrize(("raw", "data", "code", "message"), [
    ("photo.png", b"\x89PNG\r\n", "type_not_allowed",
     "“photo.png” is not a kind of file that can be attached (.png); attach a text file: .txt, .md"),
    ("noextension", b"hi", "type_not_allowed", "(no extension)"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "not_text",
     "“image.txt” is a PNG image, not text: only UTF-8 text files can be attached"),
    ("program.py", b"\x7fELF\x02\x01\x01", "not_text", "“program.py” is an executable (ELF), not text"),
    ("data.csv", b"a,b\n\xff\xfe", "not_text", "“data.csv” is not UTF-8 text (it looks like a binary file)"),
    ("nul.txt", b"a\x00b", "not_text", "“nul.txt” is not UTF-8 text"),
    ("big.txt", b"x" * 1001, "too_large", "“big.txt” is larger than 1,000 bytes"),
    ("empty.txt", b"", "empty", "“empty.txt” is empty."),
    ("", b"x", "bad_name", "The file has no name."),
    ("a\x00.exe", b"x", "type_not_allowed", "“a\\x00.exe” is not a kind of file"),
])
def test_a_refused_upload_says_why_and_stores_nothing(root, settings, user, convo, raw, data, code, message):
    settings.ATTACHMENTS_EXTENSIONS = ["txt", "md", "py", "csv"]
    with pytest.raises(Refused) as refused:
        attach(user, convo, raw, data)
    assert refused.value.code == code
    assert message in str(refused.value)
    assert nothing_stored(root)


def test_a_declared_size_over_the_limit_is_refused_before_reading(root, user, convo):
    def never():
        raise AssertionError("read")
        yield b""

    with pytest.raises(Refused, match=r"“big.txt” is 5,000 bytes; an attachment may be at most 1,000 bytes."):
        service.add(user, convo, "big.txt", never(), size=5000)
    assert nothing_stored(root)


def test_a_name_already_taken_gets_a_number_and_nothing_is_overwritten(root, user, convo):
    first = attach(user, convo, "notes.txt", b"one")
    second = attach(user, convo, "notes.txt", b"two")
    assert (first.name, second.name) == ("notes.txt", "notes-2.txt")
    ctx = ToolContext(user=user)
    assert [read_file.fn(ctx, path=a.path)["content"] for a in (first, second)] == ["one", "two"]


def test_a_symlink_planted_as_the_folder_is_never_followed(root, user, convo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    workspace = root / str(user.pk)
    (workspace / "attachments").mkdir(parents=True)
    os.symlink(outside, workspace / "attachments" / convo.pk.hex[:12])
    with pytest.raises(Refused) as refused:
        attach(user, convo, "x.txt")
    assert refused.value.code == "bad_path" and "outside your workspace" in str(refused.value)
    assert list(outside.iterdir()) == [] and not Attachment.objects.exists()


def test_more_than_the_pending_limit_is_refused(root, user, convo):
    for n in range(3):
        attach(user, convo, f"f{n}.txt")
    with pytest.raises(Refused, match="At most 3 files can be attached to one message"):
        attach(user, convo, "f3.txt")
    assert Attachment.objects.count() == 3


def test_removing_deletes_the_file_once_and_is_audited(root, user, convo):
    attachment = attach(user, convo, "notes.txt")
    file = root / str(user.pk) / attachment.path
    service.remove(user, attachment.pk)
    assert not file.exists()
    assert Attachment.objects.get(pk=attachment.pk).removed
    event = AuditEvent.objects.get(kind="attachment.removed")
    assert (event.user_id, event.outcome) == (user.pk, "deleted")
    assert event.data["attachment_id"] == str(attachment.pk)
    with pytest.raises(service.NotFound):  # a second removal finds nothing to remove
        service.remove(user, attachment.pk)
    assert AuditEvent.objects.filter(kind="attachment.removed").count() == 1


def test_another_users_attachment_is_not_found_and_stays(root, user, other_user, convo):
    attachment = attach(user, convo, "notes.txt")
    with pytest.raises(service.NotFound, match=f"There is no attachment {attachment.pk} of yours."):
        service.remove(other_user, attachment.pk)
    assert (root / str(user.pk) / attachment.path).exists()
    assert not Attachment.objects.get(pk=attachment.pk).removed


def test_removing_a_file_replaced_by_a_symlink_removes_only_the_link(root, user, convo, tmp_path):
    attachment = attach(user, convo, "notes.txt")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    file = root / str(user.pk) / attachment.path
    file.unlink()
    os.symlink(precious, file)
    service.remove(user, attachment.pk)
    assert not file.is_symlink() and precious.read_text() == "keep"


def test_the_next_message_carries_the_files_and_the_model_is_told(root, user, convo):
    attachment = attach(user, convo, "notes.txt", b"abc")
    started = store.start_run(convo, user, "summarise it", max_steps=3)
    assert started.message.attachments == [attachment.summary()]
    assert Attachment.objects.get(pk=attachment.pk).message_id == started.message.pk
    told = conversation_history(convo.pk)[0].content
    assert told == (f'summarise it\n\n[The user attached 1 file(s), saved in their workspace; read one with '
                    f'read_file(path=...): "{attachment.path}" (3 bytes)]')
    assert not Attachment.objects.pending().exists()  # the next message carries none


def test_a_removed_attachment_is_not_sent(root, user, convo):
    attachment = attach(user, convo, "notes.txt")
    service.remove(user, attachment.pk)
    started = store.start_run(convo, user, "hi", max_steps=3)
    assert started.message.attachments is None
