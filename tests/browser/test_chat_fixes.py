"""Issue 14's bugs, each as a person meets it in a real browser."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from tests.browser.conftest import PHONE
from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle
from tools.models import ToolCall

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture
def approver(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return bob


def test_a_call_waiting_for_approval_is_shown_as_waiting_not_as_an_error(new_context, user):
    chat = open_conversation(new_context(user), conversation_for(user))
    send(chat, "email sam@example.com saying the meeting moved")
    card = chat.locator(".tool-card").last
    expect(card).to_have_attribute("data-status", "pending")
    expect(card.locator(".tool-status")).to_have_text("Waiting for approval")
    expect(card.locator(".tool-waiting")).to_be_visible()
    expect(card.locator(".tool-part-error")).to_be_hidden()
    assert "approval_required" not in card.inner_text()

    chat.reload()  # rendered from the stored record: still waiting, still no error
    card = chat.locator(".tool-card").last
    expect(card.locator(".tool-waiting")).to_be_visible()
    expect(card.locator(".tool-part-error")).to_be_hidden()
    assert "approval_required" not in card.inner_text()


def test_approving_with_edits_shows_the_arguments_that_ran_and_what_changed(new_context, user, approver):
    chat = open_conversation(new_context(user), conversation_for(user))
    send(chat, "email sam@example.com saying the meeting moved")
    card = chat.locator(".tool-card").last
    expect(card).to_have_attribute("data-status", "pending")

    request = ApprovalRequest.objects.get(tool_name="send_email")
    edited = {**request.arguments, "to": ["kim@example.com"]}
    admin = new_context(approver).new_page()
    admin.goto(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    admin.locator("details.toolgate-raw summary").click()  # the raw JSON under the generated form
    admin.locator("#edited_arguments").fill(json.dumps(edited))
    admin.get_by_role("button", name="Approve with these arguments").click()
    expect(admin.locator(".messagelist")).to_contain_text("approved")

    wait_idle(chat)  # live, without a reload
    for view in ("live", "reloaded"):
        card = chat.locator(".tool-card").last
        expect(card).to_have_attribute("data-edited", "true")
        expect(card.locator(".tool-edited")).to_have_text("Edited by the approver bob")
        expect(card.locator(".tool-args")).to_contain_text("kim@example.com")
        expect(card.locator(".tool-args")).not_to_contain_text("sam@example.com")
        change = card.locator(".tool-changes li")
        expect(change).to_have_count(1)
        expect(change.locator(".tool-change-field")).to_have_text("to")
        expect(change.locator("del")).to_have_text('["sam@example.com"]')
        expect(change.locator("ins")).to_have_text('["kim@example.com"]')
        if view == "live":
            chat.reload()
    assert ToolCall.objects.get(tool_name="send_email").arguments["to"] == ["kim@example.com"]


def test_a_long_paste_is_kept_whole_counted_and_not_sent(new_context, user):
    chat = open_conversation(new_context(user), conversation_for(user))
    box = chat.locator("#composer-input")
    maximum = int(box.get_attribute("data-max-chars"))
    box.fill("x" * (maximum + 5))

    assert len(box.input_value()) == maximum + 5  # nothing cut
    count = chat.locator("#composer-count")
    expect(count).to_be_visible()
    expect(count).to_contain_text(f"{maximum + 5:,} / {maximum:,} characters: 5 too many")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(chat.locator("#send-button")).to_be_disabled()
    box.press("Enter")
    chat.wait_for_timeout(300)
    expect(chat.locator(".msg-user")).to_have_count(0)  # neither whole nor shortened

    box.press("Backspace")  # still 4 too many
    expect(chat.locator("#send-button")).to_be_disabled()
    box.fill("echo: fits now")
    expect(count).to_be_hidden()
    box.press("Enter")
    expect(chat.locator(".msg-user")).to_have_text("echo: fits now")


def test_a_too_large_message_is_refused_in_plain_words_and_the_alert_clears_on_success(new_context, user):
    chat = open_conversation(new_context(user), conversation_for(user))
    big = "😀" * 17_000  # under the character limit, over the 64 kB frame limit (4 bytes each)
    send(chat, big)
    alert = chat.locator("#alerts .alert")
    expect(alert).to_contain_text("The message was not sent: it is too large")
    expect(alert).to_contain_text("Shorten it and send it again")
    assert "Frames" not in alert.inner_text()
    assert chat.locator("#composer-input").input_value() == big  # given back whole
    wait_idle(chat)

    send(chat, "echo: short")
    expect(chat.locator(".msg-user")).to_have_text("echo: short")
    expect(chat.locator("#alerts .alert")).to_have_count(0)


def test_links_in_answers_open_in_a_new_tab_and_the_chat_stays(new_context, user):
    context = new_context(user)
    chat = open_conversation(context, conversation_for(user, "slow"))
    send(chat, "echo: see [the docs](http://127.0.0.1:9/docs) for more")
    wait_idle(chat)
    link = last_reply(chat).get_by_role("link", name="the docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    with context.expect_page() as opened:
        link.click()
    assert opened.value != chat
    assert "/c/" in chat.url  # the chat did not navigate away


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_long_sidebar_titles_end_in_an_ellipsis_inside_the_sidebar(new_context, user, viewport):
    title = "A very long conversation title that goes on and on about quarterly planning details"
    conversation = conversation_for(user, title=title)
    chat = open_conversation(new_context(user, viewport=viewport), conversation)
    if viewport is PHONE:
        chat.locator(".sidebar-summary").click()
    link = chat.locator(".sidebar-list a", has_text="A very long")
    expect(link).to_have_attribute("title", title)
    box = link.bounding_box()
    sidebar = chat.locator(".sidebar").bounding_box()
    assert box["x"] + box["width"] <= sidebar["x"] + sidebar["width"] + 0.5, (box, sidebar)
    clipped = link.evaluate("a => ({over: a.scrollWidth > a.clientWidth, "
                            "style: getComputedStyle(a).textOverflow})")
    assert clipped == {"over": True, "style": "ellipsis"}
