"""Export and import over the API: JSON and Markdown out, JSON back in as a new conversation."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from assistant.api import tokens
from assistant.models import Conversation
from assistant.runs.engine import Engine
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def chatted(user):
    conversation = await Conversation.objects.acreate(owner=user, profile="demo", title="Sums")
    await Engine().send(conversation, user, "what is 12*7")
    return conversation


async def test_json_and_markdown_exports_and_a_round_trip(api, chatted):
    exported = await api.get(f"/api/v1/conversations/{chatted.pk}/export")
    assert exported.status_code == 200
    data = exported.json()
    assert data["format"] == "toolgate.conversation" and len(data["messages"]) == 4
    assert data["tool_calls"][0]["tool"] == "calculator"
    markdown = await api.get(f"/api/v1/conversations/{chatted.pk}/export?format=markdown")
    assert markdown.status_code == 200 and markdown["Content-Type"].startswith("text/markdown")
    assert "**Tool call `calculator`**" in markdown.content.decode()

    imported = await api.post("/api/v1/conversations/import", data, content_type="application/json")
    assert imported.status_code == 201, imported.content
    assert imported.json()["title"] == "Sums" and imported.json()["id"] != str(chatted.pk)
    assert await Conversation.objects.acount() == 2


async def test_another_users_conversation_cannot_be_exported(other_api, chatted):
    response = await other_api.get(f"/api/v1/conversations/{chatted.pk}/export")
    assert response.status_code == 404


async def test_a_bad_export_is_a_422_with_the_reason_and_nothing_stored(api):
    body = {"format": "toolgate.conversation", "version": 1, "conversation": {"title": "x"}, "messages": [
        {"role": "tool", "content": "", "tool_results": [{"call_id": "c", "name": "n", "content": "{}"}]}]}
    response = await api.post("/api/v1/conversations/import", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_export"
    assert "messages.0: a tool turn must follow an assistant turn" in response.json()["error"]["message"]
    assert not await Conversation.objects.aexists()


async def test_a_read_only_token_cannot_import(user, chatted):
    reader = bearer((await sync_to_async(tokens.create)(user, "reader", read_only=True)).secret)
    body = {"format": "toolgate.conversation", "version": 1, "conversation": {}, "messages": []}
    response = await reader.post("/api/v1/conversations/import", body, content_type="application/json")
    assert response.status_code == 403


async def test_an_import_naming_a_file_outside_your_workspace_is_a_422(api, settings, tmp_path):
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    body = {"format": "toolgate.conversation", "version": 1, "conversation": {"title": "x"}, "messages": [
        {"role": "user", "content": "read it",
         "attachments": [{"name": "p.txt", "path": "../2/secret.txt"}]}]}
    response = await api.post("/api/v1/conversations/import", body, content_type="application/json")
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith(
        "messages.0.attachments.0.path: path '../2/secret.txt' points outside your workspace")
    assert not await Conversation.objects.aexists()
