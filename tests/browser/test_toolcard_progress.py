"""The tool card shows an MCP call's progress (static/js/toolcard.js), as text, in Chromium."""

from __future__ import annotations

import pytest

from tests.browser.test_chat_page import conversation_for, open_conversation

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_progress_shows_on_a_running_card_as_text_and_stops_once_it_is_done(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    script_url = page.evaluate(
        """() => [...document.scripts].map(s => s.src).find(s => s.includes("chat"))""")
    toolcard_url = script_url.rsplit("/", 1)[0] + "/toolcard.js"
    running, injected, done = page.evaluate("""async (url) => {
        const { createCard, showProgress, updateCard } = await import(url);
        const card = createCard({id: "c1", name: "toy__slow", arguments: "{}", status: "running"});
        document.body.append(card);
        showProgress(card, {id: "c1", progress: 3, total: 10, message: "<b>step</b> 3"});
        const running = card.querySelector(".tool-status").textContent;
        const injected = card.querySelector("b") !== null;
        updateCard(card, {id: "c1", status: "ok", result: "slept"});
        showProgress(card, {id: "c1", progress: 4, total: 10, message: "late"});
        return [running, injected, card.querySelector(".tool-status").textContent];
    }""", toolcard_url)
    assert running == "Running… 3/10 · <b>step</b> 3"
    assert injected is False
    assert done == "Done"
