"""Edit and resend, regenerate and retry in the browser: each opens a branch (issue 14)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation, Run
from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def branch_of(original: Conversation) -> Conversation:
    return Conversation.objects.get(branched_from=original)


def test_editing_a_message_resends_it_in_a_branch_and_keeps_the_original(new_context, user):
    original = conversation_for(user)
    page = open_conversation(new_context(user), original)
    send(page, "what is 12*7")
    wait_idle(page)
    expect(last_reply(page)).to_have_text("12*7 = 84")

    mine = page.locator(".msg-tools-user").first  # added live: the script gave it the Edit form
    mine.locator(".msg-edit summary").click()
    mine.get_by_label("Edited message").fill("what is 2+3")
    mine.get_by_role("button", name="Send as a new branch").click()

    expect(page).not_to_have_url(re.compile(str(original.pk)))
    expect(page.locator(".msg-user .msg-text")).to_have_text(["what is 2+3"])
    wait_idle(page)
    expect(last_reply(page)).to_have_text("2+3 = 5")
    banner = page.locator(".banner-branch")
    expect(banner).to_contain_text("A branch of")
    copy = branch_of(original)
    assert str(copy.pk) in page.url
    assert list(original.messages.filter(role="user").values_list("content", flat=True)) == ["what is 12*7"]

    banner.get_by_role("link").click()  # the old branch is one click away, unchanged
    expect(page.locator(".msg-user .msg-text")).to_have_text(["what is 12*7"])
    expect(page.locator(".banner-branch")).to_contain_text("Branches of this conversation")


def test_regenerate_sends_the_last_message_again_in_a_branch(new_context, user):
    original = conversation_for(user)
    page = open_conversation(new_context(user), original)
    send(page, "what is 6*7")
    wait_idle(page)
    again = page.locator("#again-button")
    expect(again).to_have_text("Regenerate")
    again.click()
    expect(page).not_to_have_url(re.compile(str(original.pk)))
    wait_idle(page)
    expect(page.locator(".msg-user .msg-text")).to_have_text(["what is 6*7"])
    expect(last_reply(page)).to_have_text("6*7 = 42")
    assert branch_of(original).runs.count() == 1


def test_retry_after_a_provider_error_is_one_click_without_retyping(new_context, user):
    original = conversation_for(user, "slow")
    page = open_conversation(new_context(user), original)
    send(page, "fail: please")
    wait_idle(page)
    expect(page.locator(".notice-error")).to_be_visible()
    again = page.locator("#again-button")
    expect(again).to_have_text("Retry")
    page.reload()  # rendered by the server the same way
    expect(page.locator("#again-button")).to_have_text("Retry")
    page.locator("#again-button").click()

    expect(page).not_to_have_url(re.compile(str(original.pk)))
    expect(page.locator(".msg-user .msg-text")).to_have_text(["fail: please"])
    wait_idle(page)
    copy = branch_of(original)
    assert copy.runs.get().status == Run.Status.FAILED  # it really ran again (and the fake fails again)
    assert page.locator("#composer-input").input_value() == ""  # nothing left to retype
