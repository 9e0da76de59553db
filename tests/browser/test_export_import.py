"""Export a conversation as Markdown and JSON from its page; import the JSON on the list."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation
from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_export_both_formats_then_import_the_json(new_context, user, tmp_path):
    original = conversation_for(user, title="Sums")
    page = open_conversation(new_context(user), original)
    send(page, "what is 12*7")
    wait_idle(page)

    page.locator(".export summary").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown").click()
    text = markdown.value.path().read_text()
    assert markdown.value.suggested_filename == "sums.md"
    assert text.startswith("# Sums") and "**Tool call `calculator`**" in text and "12*7 = 84" in text
    with page.expect_download() as exported:
        page.get_by_role("link", name="JSON").click()
    data = json.loads(exported.value.path().read_text())
    assert data["format"] == "toolgate.conversation" and data["tool_calls"][0]["tool"] == "calculator"

    saved = tmp_path / "sums.json"
    saved.write_text(json.dumps(data))
    page.goto("/")
    page.get_by_label("Import a conversation (JSON exported from Toolgate)").set_input_files(str(saved))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Conversation imported.")
    expect(page.locator(".tool-card .tool-name")).to_have_text("calculator")
    expect(last_reply(page)).to_have_text("12*7 = 84")
    assert Conversation.objects.filter(owner=user, title="Sums").count() == 2


def test_a_file_that_is_not_an_export_is_refused_with_the_reason(new_context, user, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    page = new_context(user).new_page()
    page.goto("/")
    page.get_by_label("Import a conversation (JSON exported from Toolgate)").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".flash")).to_contain_text(
        "Not imported: Not a Toolgate conversation export: format:")
    assert not Conversation.objects.exists()


def test_an_exported_attachment_comes_back_for_its_owner_and_is_missing_for_another_user(
        new_context, user, other_user, tmp_path):
    original = conversation_for(user, title="Plans")
    page = open_conversation(new_context(user), original)
    page.locator("#attach-input").set_input_files(
        {"name": "plan.md", "mimeType": "text/plain", "buffer": b"# plan\n"})
    expect(page.locator("#attachment-chips .chip")).to_have_count(1)
    send(page, "what is 6*7")
    wait_idle(page)
    page.locator(".export summary").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown").click()
    assert "- `plan.md` — `attachments/" in markdown.value.path().read_text()
    with page.expect_download() as exported:
        page.get_by_role("link", name="JSON").click()
    saved = tmp_path / "plans.json"
    saved.write_text(exported.value.path().read_text())
    assert json.loads(saved.read_text())["messages"][0]["attachments"][0]["name"] == "plan.md"

    for person, state in ((user, None), (other_user, "not in your workspace")):
        page = new_context(person).new_page()
        page.goto("/")
        page.get_by_label("Import a conversation (JSON exported from Toolgate)").set_input_files(str(saved))
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.locator(".flash")).to_contain_text("Conversation imported.")
        chip = page.locator(".msg-user .msg-attachments .chip")
        expect(chip.locator(".chip-name")).to_have_text("plan.md")
        if state is None:  # the owner's own file: linked, removable
            expect(chip.get_by_role("button", name="Remove plan.md")).to_be_visible()
        else:  # another user's file is never reached: named, marked, nothing to remove
            expect(chip.locator(".chip-state")).to_have_text(state)
            expect(chip.get_by_role("button")).to_have_count(0)
