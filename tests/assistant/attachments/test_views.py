"""The chat page's attachment endpoints and how the page shows attachments (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assistant.attachments import service
from assistant.attachments.models import Attachment
from assistant.models import Conversation
from assistant.runs import store

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.ATTACHMENTS_MAX_BYTES = 1000
    return settings.TOOLS_WORKSPACE_ROOT


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def convo(user):
    return Conversation.objects.create(owner=user, profile="demo")


JSON = {"HTTP_ACCEPT": "application/json"}


def test_an_upload_answers_the_chips_and_the_page_shows_them(root, signed_in, convo):
    files = [SimpleUploadedFile("a.txt", b"one"), SimpleUploadedFile("b.md", b"two")]
    response = signed_in.post(f"/c/{convo.pk}/attachments/", {"file": files}, **JSON)
    assert response.status_code == 201
    assert [a["name"] for a in response.json()["attachments"]] == ["a.txt", "b.md"]
    page = signed_in.get(f"/c/{convo.pk}/").content.decode()
    chips = page[page.index('id="attachment-chips"'):]
    assert chips.index("a.txt") < chips.index("b.md") < chips.index("</ul>")


def test_a_refused_upload_answers_the_reason_and_keeps_earlier_files(root, signed_in, convo):
    files = [SimpleUploadedFile("a.txt", b"one"), SimpleUploadedFile("b.txt", b"x" * 1001)]
    response = signed_in.post(f"/c/{convo.pk}/attachments/", {"file": files}, **JSON)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == {"code": "too_large",
                             "message": "“b.txt” is 1,001 bytes; an attachment may be at most 1,000 bytes."}
    assert [a["name"] for a in body["attachments"]] == ["a.txt"]
    assert list(Attachment.objects.values_list("name", flat=True)) == ["a.txt"]


def test_without_javascript_a_refusal_is_a_flash_message(root, signed_in, convo):
    response = signed_in.post(f"/c/{convo.pk}/attachments/",
                              {"file": SimpleUploadedFile("x.exe", b"MZ")}, follow=True)
    page = response.content.decode()
    assert "Not attached: “x.exe” is not a kind of file that can be attached (.exe)" in page


def test_a_filename_with_markup_is_shown_as_text(root, signed_in, convo, user):
    attachment = service.add(user, convo, "<img src=x onerror=alert(1)>.txt", [b"x"])
    page = signed_in.get(f"/c/{convo.pk}/").content.decode()
    assert "<img src=x" not in page and "onerror=" not in page
    assert attachment.name == "img src_x onerror_alert_1.txt" and attachment.name in page


def test_a_sent_attachment_is_a_chip_on_its_message_and_removal_marks_it(root, signed_in, convo, user):
    attachment = service.add(user, convo, "notes.txt", [b"x"])
    started = store.start_run(convo, user, "see attached", max_steps=3)
    page = signed_in.get(f"/c/{convo.pk}/").content.decode()
    message = page[page.index(f'id="m-{started.message.pk}"'):]
    assert message.index("see attached") < message.index("notes.txt") < message.index("</article>")
    response = signed_in.post(f"/c/{convo.pk}/attachments/{attachment.pk}/remove/", **JSON)
    assert response.json() == {"removed": attachment.summary()}
    page = signed_in.get(f"/c/{convo.pk}/").content.decode()
    assert 'class="chip chip-removed"' in page


def test_another_users_attachment_cannot_be_removed(root, client, other_user, user, convo):
    attachment = service.add(user, convo, "notes.txt", [b"x"])
    theirs = Conversation.objects.create(owner=other_user, profile="demo")
    client.force_login(other_user)
    response = client.post(f"/c/{theirs.pk}/attachments/{attachment.pk}/remove/", **JSON)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"There is no attachment {attachment.pk} of yours."
    assert not Attachment.objects.get(pk=attachment.pk).removed
    upload = client.post(f"/c/{convo.pk}/attachments/", {"file": SimpleUploadedFile("a.txt", b"x")})
    assert upload.status_code == 404
