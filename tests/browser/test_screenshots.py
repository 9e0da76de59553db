"""Screenshots of the changed pages at desktop and phone sizes, light and dark (issue 14).

Each shot is also checked for what a person would notice first: no horizontal scrolling.
They are written to $TOOLGATE_SCREENSHOTS (default: a temporary directory) for looking at.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from tests.browser.test_chat_page import conversation_for, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = Path(os.environ.get("TOOLGATE_SCREENSHOTS") or tempfile.mkdtemp(prefix="toolgate-shots-"))
CODE_ANSWER = ("Use a dict:\n\n```python\ncounts = {}\nfor word in text.split():\n"
               "    counts[word] = counts.get(word, 0) + 1\n```\n\nSee [the docs](https://docs.python.org/3/).")


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


@pytest.fixture
def prepared(new_context, user, django_user_model):
    """A conversation with an edited approval, highlighted code and a long title."""
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    conversation_for(user, title="A very long conversation title about quarterly planning and the budget")
    chat = conversation_for(user, "slow")
    page = open_conversation(new_context(user), chat)
    send(page, f"echo: {CODE_ANSWER}")
    wait_idle(page)
    demo = conversation_for(user)
    page.goto(f"/c/{demo.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send(page, "email sam@example.com saying the meeting moved to 3 pm")
    expect(page.locator(".tool-card").last).to_have_attribute("data-status", "pending")
    request = ApprovalRequest.objects.get(tool_name="send_email")
    admin = new_context(bob).new_page()
    admin.goto(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    admin.locator("details.toolgate-raw summary").click()  # the raw JSON under the generated form
    admin.locator("#edited_arguments").fill(json.dumps({**request.arguments, "to": ["kim@example.com"]}))
    admin.get_by_role("button", name="Approve with these arguments").click()
    wait_idle(page)
    return chat, demo


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_changed_pages(new_context, user, prepared, size, scheme):
    chat, demo = prepared
    context = new_context(user, viewport=SIZES[size])
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    for name, url in (("chat-code", f"/c/{chat.pk}/"), ("chat-approval", f"/c/{demo.pk}/"),
                      ("list", "/"), ("tokens", "/settings/tokens/")):
        page.goto(url)
        if name.startswith("chat"):
            expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        no_horizontal_scroll(page)
        page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"))
    page.goto(f"/c/{demo.pk}/")
    page.locator("#composer-input").fill("x" * 19_000)
    page.locator("#transcript").focus()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.screenshot(path=str(SHOTS / f"shortcuts-{size}-{scheme}.png"))
