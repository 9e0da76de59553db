"""Search from the sidebar and with Ctrl+K; a result opens the conversation at the message."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation, Message
from tests.browser.test_chat_page import conversation_for, open_conversation

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def filled(user, title: str, count: int, needle_at: int, needle: str) -> tuple[Conversation, Message]:
    made = Conversation.objects.create(owner=user, profile="demo", title=title)
    target = None
    for position in range(count):
        text = f"filler message number {position} " * 8
        if position == needle_at:
            text = f"the {needle} is here"
        message = Message.objects.create(conversation=made, position=position,
                                         role="user" if position % 2 == 0 else "assistant", content=text)
        if position == needle_at:
            target = message
    return made, target


def test_ctrl_k_searches_and_a_result_opens_the_message(new_context, user):
    made, target = filled(user, "Long one", 40, 4, "pelican")
    page = open_conversation(new_context(user), conversation_for(user))
    page.keyboard.press("Control+k")
    box = page.get_by_role("searchbox", name="Search conversations")
    expect(box).to_be_focused()
    box.fill("pelic")
    box.press("Enter")

    hit = page.locator(".search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("pelican")
    expect(hit).to_contain_text("Long one")
    hit.locator("a").click()
    expect(page).to_have_url(re.compile(f"/c/{made.pk}/#m-{target.pk}$"))
    message = page.locator(f"#m-{target.pk}")
    expect(message).to_be_in_viewport()  # scrolled to it, not to the end


def test_the_sidebar_search_says_what_is_wrong_and_finds_titles(new_context, user):
    conversation_for(user, title="Quarterly budget")
    page = open_conversation(new_context(user), conversation_for(user))
    box = page.locator("#side-search")
    box.fill("?!")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Type at least one word to search for.")
    page.locator("#page-search").fill("budget")
    page.locator("#page-search").press("Enter")
    expect(page.locator(".search-hit")).to_contain_text("Title: Quarterly budget")
