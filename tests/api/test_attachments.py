"""Attachments over the REST API (issue 14): upload, list, send, remove; hostile uploads refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.models import AuditEvent
from assistant.attachments.models import Attachment
from assistant.models import Conversation
from tests.assistant.runs.engine_helpers import use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.ATTACHMENTS_MAX_BYTES = 2000
    return settings.TOOLS_WORKSPACE_ROOT


@pytest.fixture
async def convo(user):
    return await Conversation.objects.acreate(owner=user, profile="fake-openai")


async def upload(client, convo, name: str, data: bytes):
    return await client.post(f"/api/v1/conversations/{convo.pk}/attachments",
                             {"file": SimpleUploadedFile(name, data)})


async def test_an_uploaded_file_is_read_by_the_model_with_read_file(api, root, convo, fake_llm, settings,
                                                                   monkeypatch, user):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    response = await upload(api, convo, "../../plan.md", b"# Plan\nship on Friday\n")
    assert response.status_code == 201, response.json()
    attachment = response.json()
    assert attachment["name"] == "plan.md" and attachment["message_id"] is None
    path = attachment["path"]
    fake_llm.script_openai(tool_calls(call("read_file", {"path": path}, id="call_read_1")),
                           text("It says: ship on Friday."))
    reply = await api.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "what is the plan?"},
                           content_type="application/json")
    assert reply.status_code == 200, reply.json()
    first = fake_llm.bodies("openai")[0]["messages"]
    assert first[-1] == {"role": "user", "content": (
        "what is the plan?\n\n[The user attached 1 file(s), saved in their workspace; read one with "
        f'read_file(path=...): "{path}" (22 bytes)]')}
    result = fake_llm.bodies("openai")[1]["messages"][-1]
    assert result["role"] == "tool" and "ship on Friday" in result["content"]
    listed = (await api.get(f"/api/v1/conversations/{convo.pk}/attachments")).json()
    assert [(a["id"], a["removed"]) for a in listed] == [(attachment["id"], False)]
    assert listed[0]["message_id"] is not None


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("evil.sh.png", b"\x89PNG\r\n\x1a\n", 422, "type_not_allowed"),
    ("evil.txt", b"\x89PNG\r\n\x1a\n\x00", 422, "not_text"),
    ("big.txt", b"x" * 2001, 413, "too_large"),
])
async def test_a_refused_upload_stores_nothing(api, root, convo, name, data, status, code):
    response = await upload(api, convo, name, data)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert not await Attachment.objects.aexists()
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


async def test_removing_deletes_the_file_and_is_audited(api, root, convo, user):
    attachment = (await upload(api, convo, "notes.txt", b"abc")).json()
    file = root / str(user.pk) / attachment["path"]
    assert file.read_bytes() == b"abc"
    response = await api.delete(f"/api/v1/attachments/{attachment['id']}")
    assert response.status_code == 204 and not file.exists()
    assert await AuditEvent.objects.filter(kind="attachment.removed", outcome="deleted").acount() == 1
    again = await api.delete(f"/api/v1/attachments/{attachment['id']}")
    assert again.status_code == 404


async def test_another_users_attachment_is_not_found(api, other_api, root, convo, user):
    attachment = (await upload(api, convo, "notes.txt", b"abc")).json()
    response = await other_api.delete(f"/api/v1/attachments/{attachment['id']}")
    assert response.status_code == 404
    assert (root / str(user.pk) / attachment["path"]).exists()
    assert (await other_api.get(f"/api/v1/conversations/{convo.pk}/attachments")).status_code == 404
    assert (await upload(other_api, convo, "x.txt", b"x")).status_code == 404


async def test_a_read_only_token_cannot_upload(root, convo, user):
    from asgiref.sync import sync_to_async

    from assistant.api import tokens
    from tests.api.conftest import bearer

    secret = (await sync_to_async(tokens.create)(user, "ro", read_only=True)).secret
    response = await upload(bearer(secret), convo, "x.txt", b"x")
    assert response.status_code == 403 and not await Attachment.objects.aexists()


async def test_a_multipart_body_without_a_boundary_is_a_clear_400(api, root, convo):
    response = await api.post(f"/api/v1/conversations/{convo.pk}/attachments", b"--x\r\n",
                              content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_multipart", "details": None,
        "message": "The multipart/form-data body cannot be read: Invalid boundary in multipart: None"}
    assert not await Attachment.objects.aexists()
