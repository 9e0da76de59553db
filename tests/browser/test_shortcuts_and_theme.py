"""Keyboard shortcuts and their `?` overlay, the theme switch, the demo banner (issue 14)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation, Preference, Run
from tests.browser.test_chat_page import conversation_for, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_question_mark_lists_the_shortcuts_and_escape_closes_the_list(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    page.locator("#transcript").focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for key in ("Esc", "/", "Shift", "O"):
        expect(dialog.locator("kbd", has_text=key).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="?").click()  # also from the top bar
    expect(dialog).to_be_visible()


def test_typing_a_question_mark_in_the_box_does_not_open_the_list(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    page.keyboard.press("/")  # "/" goes to the message box
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.type("why?")
    expect(page.locator("#composer-input")).to_have_value("why?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()


def test_escape_stops_the_reply_being_written(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user, "slow"))
    send(page, "long: please")
    expect(page.locator(".msg-streaming")).to_contain_text("word3")
    page.keyboard.press("Escape")
    wait_idle(page)
    expect(page.locator(".notice").last).to_have_text("Stopped.")
    # The page shows "Stopped." from the socket's event; the row is the driver's to close,
    # which on PostgreSQL (another process) can commit a moment later.
    deadline = time.monotonic() + 10
    while Run.objects.get().status != Run.Status.CANCELLED:
        assert time.monotonic() < deadline, f"the run ended {Run.objects.get().status}, not cancelled"
        time.sleep(0.05)


def test_the_new_conversation_shortcut_opens_a_new_conversation(new_context, user):
    first = conversation_for(user)
    page = open_conversation(new_context(user), first)
    page.keyboard.press("Control+Shift+O")
    expect(page).not_to_have_url(re.compile(str(first.pk)))
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    assert Conversation.objects.filter(owner=user).count() == 2


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_choice_applies_at_once_and_is_remembered_per_user(new_context, user, scheme):
    context = new_context(user)
    page = open_conversation(context, conversation_for(user))
    page.emulate_media(color_scheme=scheme)
    other = "dark" if scheme == "light" else "light"
    background = lambda p: p.evaluate("getComputedStyle(document.body).backgroundColor")  # noqa: E731
    system = background(page)
    page.get_by_role("button", name="Dark" if other == "dark" else "Light", exact=True).click()
    expect(page.locator("html")).to_have_attribute("data-theme", other)
    assert background(page) != system  # applied without a reload
    expect(page.locator("#theme-switch button[aria-pressed=true]")).to_have_text(other.capitalize())

    # Remembered for the user, not the browser: a fresh browser profile gets it too.
    deadline = time.monotonic() + 10  # the page applies it at once; the save is a request behind it
    while not Preference.objects.filter(user=user, theme=other).exists():
        assert time.monotonic() < deadline, "the theme choice was never saved for the user"
        time.sleep(0.05)
    fresh = new_context(user).new_page()
    fresh.emulate_media(color_scheme=scheme)
    fresh.goto("/")
    expect(fresh.locator("html")).to_have_attribute("data-theme", other)
    assert background(fresh) != system
    fresh.get_by_role("button", name="System", exact=True).click()
    expect(fresh.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
    assert background(fresh) == system


def test_the_demo_banner_can_be_dismissed_for_good(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    banner = page.locator(".banner-demo")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Dismiss the demo notice").click()
    expect(banner).to_have_count(0)
    deadline = time.monotonic() + 10  # gone at once; the save is a request behind it
    while not Preference.objects.filter(user=user, demo_banner_dismissed=True).exists():
        assert time.monotonic() < deadline, "the dismissal was never saved for the user"
        time.sleep(0.05)
    page.reload()
    expect(page.locator(".banner-demo")).to_have_count(0)
    # The reloaded page's socket must be open before sending: until then Enter sends nothing,
    # and wait_idle would pass on the idle composer without any message having gone out.
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send(page, "what is 12*7")  # the chat itself is unaffected
    wait_idle(page)


def test_the_shortcuts_button_is_offered_only_with_the_script_that_opens_the_list(new_context, user):
    page = new_context(user, java_script_enabled=False).new_page()
    page.goto("/")
    expect(page.get_by_role("link", name="API tokens")).to_be_visible()
    expect(page.locator("#shortcuts-open")).to_be_hidden()
    page = new_context(user).new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="?")).to_be_visible()
