"""Copy buttons and server-side syntax highlighting in the browser (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

CODE = "def greet(name):\n    return f'hi {name}'\n"
ANSWER = f"Here:\n\n```python\n{CODE}```\n\nDone."


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def copying_context(new_context, user, **options):
    context = new_context(user, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    return context


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_code_in_answers_is_highlighted_and_copied_with_one_click(new_context, user, scheme):
    page = open_conversation(copying_context(new_context, user), conversation_for(user, "slow"))
    page.emulate_media(color_scheme=scheme)
    send(page, f"echo: {ANSWER}")
    wait_idle(page)
    block = last_reply(page).locator(".code-block")
    keyword = block.locator("pre span.k").first
    expect(keyword).to_have_text("def")
    colour = keyword.evaluate("el => getComputedStyle(el).color")
    assert colour == ("rgb(0, 128, 0)" if scheme == "light" else "rgb(255, 123, 114)"), colour

    block.get_by_role("button", name="Copy code").click()
    expect(block.get_by_role("button", name="Copied")).to_be_visible()
    assert clipboard(page) == CODE

    page.reload()  # server-rendered the same way, and decorated again
    expect(last_reply(page).locator(".code-block pre span.k").first).to_have_text("def")
    expect(last_reply(page).get_by_role("button", name="Copy code")).to_be_visible()


def test_messages_have_a_copy_button(new_context, user):
    page = open_conversation(copying_context(new_context, user), conversation_for(user))
    send(page, "what is 12*7")
    wait_idle(page)
    page.locator(".msg-tools-user .copy-message").click()
    assert clipboard(page) == "what is 12*7"
    page.locator(".msg-tools-assistant .copy-message").last.click()
    assert clipboard(page).strip() == "12*7 = 84"


def test_a_new_api_token_is_copied_with_one_click(new_context, user):
    page = copying_context(new_context, user).new_page()
    page.goto("/settings/tokens/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").input_value()
    assert len(secret) > 20
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert clipboard(page) == secret


def test_the_token_copy_button_is_offered_only_once_it_can_copy(new_context, user):
    """Without the script a Copy button would do nothing; the field itself can still be selected."""
    page = new_context(user, java_script_enabled=False).new_page()
    page.goto("/settings/tokens/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    expect(page.locator(".copy-field")).to_be_hidden()
