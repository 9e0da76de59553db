"""Tool-call arguments grow in the card while the model writes them (issue 16, part 3).

The fake LLM server streams a create_note call whose text argument arrives in 60
fragments over ~3 s (``args: N`` in conftest.py).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import RUN_TIMEOUT, conversation_for, open_conversation, send, wait_idle
from tools.models import Note

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SIZE = 3000


def watch_arguments(page) -> None:
    page.evaluate("""() => {
        window.argLengths = [];
        window.deltaFrames = 0;
        const log = document.getElementById("transcript");
        new MutationObserver(() => {
            const args = log.querySelector('.tool-card[data-status="streaming"] .tool-args');
            if (args) window.argLengths.push(args.textContent.length);
        }).observe(log, {childList: true, subtree: true, characterData: true});
    }""")


def final_note(card) -> str:
    expect(card).to_have_attribute("data-status", "ok", timeout=RUN_TIMEOUT)
    return json.loads(card.locator(".tool-args").text_content())["text"]


def test_the_arguments_grow_in_the_card_then_show_complete_and_formatted(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user, "slow"))
    frames: list[dict] = []
    page.on("websocket",
            lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    watch_arguments(page)

    send(page, f"args: {SIZE}")
    card = page.locator(".tool-card")
    expect(card).to_have_attribute("data-status", "streaming")
    expect(card.locator(".tool-status")).to_have_text("Receiving arguments…")
    expect(card.locator(".tool-name")).to_have_text("create_note")
    note = final_note(card)
    wait_idle(page)

    assert len(note) == SIZE and note.startswith("line0 line1")
    assert Note.objects.get(owner=user).text == note
    lengths = page.evaluate("window.argLengths")
    assert len(set(lengths)) >= 5, f"the arguments arrived in too few steps to be a stream: {lengths}"
    assert lengths == sorted(lengths), "streamed arguments only ever grow"
    deltas = [f for f in frames if f.get("type") == "tool.call.delta"]
    assert 5 <= len(deltas) <= 61 and all("seq" not in f for f in deltas)
    assert json.loads("".join(f["delta"] for f in deltas)) == {"text": note}


def test_a_tab_opened_mid_call_gets_the_complete_arguments_not_fragments(new_context, user):
    conversation = conversation_for(user, "slow")
    context = new_context(user)
    first = open_conversation(context, conversation)
    send(first, f"args: {SIZE}")
    expect(first.locator(".tool-card")).to_have_attribute("data-status", "streaming")
    first.wait_for_timeout(700)  # part of the arguments has been streamed

    late = open_conversation(context, conversation)  # connects mid-call
    first.reload()  # and the first tab reloads mid-call
    for page in (late, first):
        card = page.locator(".tool-card")
        note = final_note(card)
        assert len(note) == SIZE and note.startswith("line0 line1")
        expect(card).not_to_have_attribute("data-gap", "true")
        expect(page.locator(".tool-card")).to_have_count(1)
    wait_idle(late)
