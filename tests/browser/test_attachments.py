"""Attachments in the chat page (issue 14), in headless Chromium: the Attach button, drag and
drop, paste; chips on the composer and on the sent message; the remove button deletes the file; hostile
names and disguised binaries; screenshots at desktop and phone sizes, light and dark."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from assistant.attachments.models import Attachment
from assistant.models import Conversation
from tests.browser.test_chat_page import conversation_for, open_conversation, send, wait_idle
from tests.browser.test_screenshots import SHOTS, SIZES, no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

DROP = """([name, text]) => {
    const data = new DataTransfer();
    data.items.add(new File([text], name, {type: "text/plain"}));
    return data;
}"""


def workspace_file(user, path: str) -> Path:
    return Path(settings.TOOLS_WORKSPACE_ROOT) / str(user.pk) / path


def attach(page, name: str, data: bytes, mime: str = "text/plain") -> None:
    page.locator("#attach-input").set_input_files({"name": name, "mimeType": mime, "buffer": data})


def test_an_attached_file_is_sent_with_the_message_and_the_model_is_told(new_context, user, slow_llm):
    chat = conversation_for(user, "slow")
    page = open_conversation(new_context(user), chat)
    attach(page, "notes.txt", b"remember the milk\n")
    chip = page.locator("#attachment-chips .chip")
    expect(chip).to_have_count(1)
    expect(chip.locator(".chip-name")).to_have_text("notes.txt")
    attachment = Attachment.objects.get(conversation=chat)
    assert workspace_file(user, attachment.path).read_bytes() == b"remember the milk\n"

    send(page, "echo: read it")
    wait_idle(page)
    expect(page.locator("#attachment-chips .chip")).to_have_count(0)  # now the message's
    expect(page.locator(".msg-user .msg-attachments .chip-name")).to_have_text("notes.txt")
    told = [m for m in slow_llm.requests[-1].body["messages"] if m["role"] == "user"][-1]["content"]
    assert told == ("echo: read it\n\n[The user attached 1 file(s), saved in their workspace; read one with "
                    f'read_file(path=...): "{attachment.path}" (18 bytes)]')
    page.reload()  # and after a reload
    expect(page.locator(".msg-user .msg-attachments .chip-name")).to_have_text("notes.txt")


def test_files_can_be_dropped_on_the_chat_or_pasted_into_the_box(new_context, user):
    chat = conversation_for(user)
    page = open_conversation(new_context(user), chat)
    dropped = page.evaluate_handle(DROP, ["dropped.md", "# dropped"])
    page.dispatch_event(".chat", "drop", {"dataTransfer": dropped})
    expect(page.locator("#attachment-chips .chip-name")).to_have_text(["dropped.md"])
    page.evaluate("""(data) => document.getElementById("composer-input").dispatchEvent(
        new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}))""",
                  page.evaluate_handle(DROP, ["pasted.csv", "a,b\n1,2\n"]))
    expect(page.locator("#attachment-chips .chip-name")).to_have_text(["dropped.md", "pasted.csv"])
    assert sorted(Attachment.objects.values_list("name", flat=True)) == ["dropped.md", "pasted.csv"]
    expect(page.locator("#composer-input")).to_have_value("")  # a pasted file is not pasted as text


def test_a_disguised_binary_or_an_oversize_file_is_refused_with_the_reason(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    attach(page, "holiday.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png")
    expect(page.locator("#attach-status")).to_have_text(
        "Not attached: “holiday.txt” is a PNG image, not text: only UTF-8 text files can be attached, "
        "because the file tools read only text.")
    expect(page.locator("#attach-status")).to_have_attribute("data-state", "error")
    attach(page, "huge.txt", b"x" * (settings.ATTACHMENTS_MAX_BYTES + 1))
    expect(page.locator("#attach-status")).to_contain_text("Not attached: “huge.txt” is ")
    expect(page.locator("#attachment-chips .chip")).to_have_count(0)
    assert not Attachment.objects.exists()


def test_a_hostile_filename_is_shown_as_plain_text_and_runs_nothing(new_context, user, dialogs):
    page = open_conversation(new_context(user), conversation_for(user))
    attach(page, '"><img src=x onerror=alert(1)>.txt', b"x")
    # (Chromium sends the quote as %22 in the multipart header; % is not kept either.)
    expect(page.locator("#attachment-chips .chip-name")).to_have_text("22_img src_x onerror_alert_1.txt")
    attach(page, "../../../etc/passwd.txt", b"y")
    expect(page.locator("#attachment-chips .chip-name").nth(1)).to_have_text("passwd.txt")
    page.reload()
    expect(page.locator("#attachment-chips .chip")).to_have_count(2)
    assert page.locator("#attachment-chips img").count() == 0
    assert dialogs == []


def test_removing_a_chip_deletes_the_file_after_asking(new_context, user):
    chat = conversation_for(user)
    page = open_conversation(new_context(user), chat)
    page.add_init_script("window.confirm = (text) => { window.asked = text; return true; }")
    page.reload()
    attach(page, "draft.md", b"draft")
    expect(page.locator("#attachment-chips .chip")).to_have_count(1)
    attachment = Attachment.objects.get(conversation=chat)
    assert workspace_file(user, attachment.path).exists()
    page.get_by_role("button", name="Remove draft.md").click()
    expect(page.locator("#attachment-chips .chip")).to_have_count(0)
    assert page.evaluate("window.asked") == "Remove draft.md? Its file is deleted from your workspace."
    assert not workspace_file(user, attachment.path).exists()
    assert Attachment.objects.get(pk=attachment.pk).removed


def test_a_same_named_file_gets_its_own_name(new_context, user):
    chat = conversation_for(user)
    page = open_conversation(new_context(user), chat)
    attach(page, "a.txt", b"1")
    expect(page.locator("#attachment-chips .chip")).to_have_count(1)
    attach(page, "a.txt", b"2")
    expect(page.locator("#attachment-chips .chip-name")).to_have_text(["a.txt", "a-2.txt"])
    paths = list(Attachment.objects.order_by("created_at").values_list("path", flat=True))
    assert [workspace_file(user, p).read_bytes() for p in paths] == [b"1", b"2"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_attachments_and_the_model_menu(new_context, user, size, scheme):
    chat = conversation_for(user, "slow", title="Planning with attachments")
    page = open_conversation(new_context(user, viewport=SIZES[size]), chat)
    page.emulate_media(color_scheme=scheme)
    attach(page, "quarterly-plan-with-a-rather-long-name.md", b"# Q3\n")
    expect(page.locator("#attachment-chips .chip")).to_have_count(1)
    send(page, "echo: Got **it**.")
    wait_idle(page)
    attach(page, "budget.csv", b"a,b\n")
    attach(page, "notes.txt", b"n")
    expect(page.locator("#attachment-chips .chip")).to_have_count(2)
    no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / f"attachments-{size}-{scheme}.png"))


def test_regenerating_carries_the_files_and_deleting_keeps_them_in_the_workspace(new_context, user):
    chat = conversation_for(user)
    page = open_conversation(new_context(user), chat)
    page.add_init_script("window.confirm = () => true")
    attach(page, "plan.md", b"# plan\n")
    expect(page.locator("#attachment-chips .chip")).to_have_count(1)
    send(page, "what is 6*7")
    wait_idle(page)
    page.locator("#again-button").click()  # Regenerate: a branch sends the message again
    expect(page).not_to_have_url(re.compile(str(chat.pk)))
    # The branch's script sends the message once its socket is open; before that the composer is
    # idle as the server drew it, and wait_idle would let Delete go ahead mid-run.
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    wait_idle(page)
    expect(page.locator(".msg-user .msg-attachments .chip-name")).to_have_text(["plan.md"])
    branch = Conversation.objects.get(branched_from=chat)
    carried = Attachment.objects.get(conversation=branch)
    assert carried.message is not None and carried.message.content == "what is 6*7"

    page.get_by_role("button", name="Delete", exact=True).click()
    folder = carried.path.rpartition("/")[0] + "/"
    expect(page.locator(".messages, .flash, body").first).to_contain_text(
        f"Its attached file stays in your workspace ({folder}).")
    assert not Attachment.objects.filter(conversation=branch).exists()
    assert workspace_file(user, carried.path).read_bytes() == b"# plan\n"
