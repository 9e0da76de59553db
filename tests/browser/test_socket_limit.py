"""Over the per-user socket limit, the chat page says so and stops reconnecting (issue 10.6).

Headless Chromium against the live Daphne (conftest.py), whose limit is the default
``REALTIME_MAX_SOCKETS_PER_USER``: one page takes every place with plain WebSockets, and
a second page's socket is closed with 4429.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from assistant.models import Conversation

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

TAKE_PLACES = """async ([path, count]) => {
  window.held = [];
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(`ws://${location.host}${path}`);
    const outcome = await new Promise((done) => {
      ws.addEventListener("message", () => done("open"), { once: true });
      ws.addEventListener("close", (e) => done(`closed ${e.code}`), { once: true });
      ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "ping" })), { once: true });
    });
    if (outcome !== "open") return `socket ${i + 1}: ${outcome}`;
    window.held.push(ws);
  }
  return "ok";
}"""


def test_over_the_limit_the_page_says_so_and_does_not_keep_reconnecting(new_context, user):
    conversation = Conversation.objects.create(owner=user, profile="demo")
    path = f"/ws/conversations/{conversation.pk}/"
    context = new_context(user)
    holder = context.new_page()
    holder.goto(f"/c/{conversation.pk}/")
    expect(holder.locator("#connection")).to_have_attribute("data-state", "connected")
    limit = settings.REALTIME_MAX_SOCKETS_PER_USER  # the server's, from the same environment
    assert holder.evaluate(TAKE_PLACES, [path, limit - 1]) == "ok"  # the page's own socket is one

    page = context.new_page()
    attempts: list[Any] = []
    page.on("websocket", lambda socket: attempts.append(socket))
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection .connection-text")).to_have_text("Too many tabs")
    expect(page.get_by_role("alert")).to_contain_text("You have too many chat tabs or windows open")
    page.wait_for_timeout(3000)  # the first retry would come after 0.25 to 0.5 s
    assert len(attempts) == 1

    holder.evaluate("() => window.held.forEach((ws) => ws.close())")
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
