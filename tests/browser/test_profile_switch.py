"""Switching the model mid-conversation from the composer's menu (issue 14), in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation
from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_the_next_answer_comes_from_the_profile_chosen_and_says_so(new_context, user, slow_llm):
    chat = conversation_for(user)  # the offline demo
    page = open_conversation(new_context(user), chat)
    send(page, "hello")
    wait_idle(page)
    labels = page.locator(".msg-assistant .msg-profile")
    expect(labels.last).to_have_text("Answered by Demo (offline rules, not an LLM)")
    before = len(slow_llm.requests)

    page.get_by_label("Model for the next answer").select_option("slow")
    status = page.locator("#profile-status")
    expect(status).to_have_text("The next answers come from Slow fake model (tests).")
    expect(page.locator(".profile-badge")).to_have_text("Slow fake model (tests)")
    assert Conversation.objects.get(pk=chat.pk).profile == "slow"

    send(page, "echo: from the slow model")
    wait_idle(page)
    expect(last_reply(page)).to_have_text("from the slow model")
    expect(labels.last).to_have_text("Answered by Slow fake model (tests)")
    sent = slow_llm.requests[before].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]  # the demo's turn went along
    assert sent[1]["content"] == "hello"

    page.reload()
    expect(page.get_by_label("Model for the next answer")).to_have_value("slow")
    expect(page.locator(".msg-assistant .msg-profile")).to_have_text([
        "Answered by Demo (offline rules, not an LLM)", "Answered by Slow fake model (tests)"])
