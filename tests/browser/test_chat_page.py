"""The chat pages in a real browser: streaming, tool cards, reloads, tabs, XSS, phones.

Every test drives headless Chromium against a live Daphne (see conftest.py) and checks
what a person would see. The ``demo`` profile answers instantly and deterministically;
the ``slow`` profile streams a known answer over ~2 s from the fake LLM server, for the
tests that need a run still in progress.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from assistant.models import Conversation, Message, Run
from tests.browser.conftest import PHONE, SLOW_ANSWER

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

RUN_TIMEOUT = 15_000  # ms: generous upper bound for one reply, only to prove nothing hangs
XSS_NOTE = "<img src=x onerror=alert(1)><script>alert(2)</script> [click](javascript:alert(3))"


def conversation_for(user: Any, profile: str = "demo", **fields: Any) -> Conversation:
    return Conversation.objects.create(owner=user, profile=profile, **fields)


def open_conversation(context: Any, conversation: Conversation) -> Page:
    page = context.new_page()
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def send(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def wait_idle(page: Page) -> None:
    """The run finished: the composer is usable again."""
    expect(page.locator("#composer-input")).to_be_enabled(timeout=RUN_TIMEOUT)
    expect(page.locator("#stop-button")).to_be_disabled()


def last_reply(page: Page) -> Any:
    return page.locator(".msg-assistant[data-final] .markdown").last


def watch_stream(page: Page) -> None:
    """Record the length of the streaming text every time the transcript changes."""
    page.evaluate("""() => {
        window.streamLengths = [];
        const log = document.getElementById("transcript");
        new MutationObserver(() => {
            const body = log.querySelector(".msg-streaming .msg-body");
            if (body) window.streamLengths.push(body.textContent.length);
        }).observe(log, {childList: true, subtree: true, characterData: true});
    }""")


def after_of(socket: Any) -> int:
    return int(parse_qs(urlparse(socket.url).query)["after"][0])


def test_signing_in_through_the_login_form_leads_to_a_new_demo_conversation(new_context, user):
    page = new_context().new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw-alice-123")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    page.get_by_label("Model").select_option("demo")
    page.get_by_role("button", name="New conversation").click()

    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    banner = page.locator(".banner-demo")
    expect(banner).to_contain_text("Demo mode: a rule-based stand-in, not a language model")
    expect(page.locator("#connection")).to_have_text("Connected")
    assert Conversation.objects.get(owner=user).profile == "demo"


def test_a_reply_streams_into_the_live_region_and_then_the_composer_reenables(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user, "slow"))
    expect(page.locator("#transcript")).to_have_attribute("aria-live", "polite")
    watch_stream(page)

    send(page, "tell me something slowly")

    expect(page.locator(".msg-user")).to_have_text("tell me something slowly")
    expect(page.locator("#composer-input")).to_be_disabled()
    expect(page.locator("#stop-button")).to_be_enabled()
    expect(page.locator(".msg-streaming")).to_contain_text("word10")  # part of it, mid-run
    wait_idle(page)
    expect(last_reply(page)).to_contain_text("word1 word2 word3")
    expect(last_reply(page).locator("strong")).to_have_text("done")  # the server's Markdown replaced the text
    lengths = page.evaluate("window.streamLengths")
    assert len(set(lengths)) >= 5, f"the text arrived in too few steps to be a stream: {lengths}"
    assert lengths == sorted(lengths), "streamed text only ever grows"


def test_a_tool_card_goes_from_running_to_done_with_the_result(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user))
    page.evaluate("""() => {
        window.cardStates = [];  // each status the card shows, in order
        const log = document.getElementById("transcript");
        new MutationObserver(() => {
            const card = log.querySelector(".tool-card");
            if (card && window.cardStates.at(-1) !== card.dataset.status) {
                window.cardStates.push(card.dataset.status);
            }
        }).observe(log, {childList: true, subtree: true, attributes: true, characterData: true});
    }""")

    send(page, "what is 12*7")

    card = page.locator(".tool-card")
    expect(card.locator(".tool-name")).to_have_text("calculator")
    expect(card).to_have_attribute("data-status", "ok")
    expect(card.locator(".tool-status")).to_have_text("Done")
    expect(card.locator(".tool-result")).to_contain_text('"result": 84')
    expect(card.locator(".tool-args")).to_contain_text('"expression": "12*7"')
    expect(card.locator(".tool-duration")).to_have_text(re.compile(r"^\d+(\.\d+)? ms$"))
    expect(last_reply(page)).to_have_text("12*7 = 84")
    wait_idle(page)
    # The card appears while the model still writes the arguments (issue 16), then runs.
    assert page.evaluate("window.cardStates") == ["streaming", "running", "ok"]
    page.screenshot(path="/tmp/toolgate-desktop.png", full_page=True)

    page.reload()  # the same card, server-rendered from the stored records
    expect(page.locator(".tool-card .tool-result")).to_contain_text('"result": 84')
    expect(page.locator(".tool-card")).to_have_count(1)


def test_reloading_mid_run_shows_the_run_continuing_without_duplicates(new_context, user):
    # An earlier, finished exchange: the page resumes after its seq, not from the start.
    conversation = conversation_for(user, "slow", title="Earlier chat", last_seq=7)
    earlier = Run.objects.create(conversation=conversation, user=user, profile="slow", max_steps=8,
                                 status=Run.Status.COMPLETED, finished_at=timezone.now())
    Message.objects.create(conversation=conversation, run=earlier, position=0, role="user",
                           content="earlier question")
    Message.objects.create(conversation=conversation, run=earlier, position=1, role="assistant",
                           content="earlier *answer*")
    page = open_conversation(new_context(user), conversation)

    send(page, "a slow one please")
    expect(page.locator(".msg-streaming")).to_contain_text("word3")
    page.reload()

    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("#composer-input")).to_be_disabled()  # the run is still going
    wait_idle(page)
    expect(page.locator(".msg-user")).to_have_text(["earlier question", "a slow one please"])
    expect(page.locator(".msg-assistant")).to_have_count(2)
    expect(last_reply(page)).to_contain_text("word1 word2")
    assert last_reply(page).inner_text().count("word40") == 1
    expect(page.locator(".msg-assistant em")).to_have_text("answer")


def test_the_stop_button_cancels_the_run(new_context, user):
    conversation = conversation_for(user, "slow")
    page = open_conversation(new_context(user), conversation)

    send(page, "long: this will be stopped")
    expect(page.locator(".msg-streaming")).to_contain_text("word2")
    page.get_by_role("button", name="Stop").click()

    expect(page.locator(".notice")).to_have_text("Stopped.")
    wait_idle(page)
    assert Run.objects.get(conversation=conversation).status == Run.Status.CANCELLED


def test_a_failed_run_is_reported_in_an_alert_and_the_composer_comes_back(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user, "slow"))

    send(page, "fail: the model server answers 500")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("server")
    expect(alert.locator(".alert")).to_have_attribute("data-code", "provider_server_error")
    expect(page.locator(".notice-error")).to_be_visible()
    wait_idle(page)
    expect(page.locator("#composer-input")).to_have_value("")  # it was sent; nothing to give back


def test_model_output_is_shown_as_text_and_never_runs(new_context, user, dialogs):
    page = open_conversation(new_context(user), conversation_for(user, "slow"))

    send(page, f"echo: {XSS_NOTE}")  # the fake model answers with the payload, as one delta
    wait_idle(page)

    for _ in range(2):  # streamed then rendered live; then rendered by the server
        expect(last_reply(page)).to_contain_text("<img src=x onerror=alert(1)><script>alert(2)</script>")
        expect(last_reply(page).locator("a")).to_have_count(0)  # a javascript: link is no link
        assert page.locator("#transcript").locator("img, script").count() == 0
        assert dialogs == []
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def test_tool_output_is_shown_as_text_and_never_runs(new_context, user, dialogs):
    page = open_conversation(new_context(user), conversation_for(user))

    send(page, f"note: {XSS_NOTE}")
    wait_idle(page)
    send(page, "find my notes about onerror")
    wait_idle(page)

    def assert_inert() -> None:
        transcript = page.locator("#transcript")
        expect(page.locator(".msg-user").first).to_have_text(f"note: {XSS_NOTE}")
        expect(page.locator(".tool-card .tool-args").first).to_contain_text(XSS_NOTE.replace('"', '\\"'))
        expect(page.locator(".tool-card .tool-result").last).to_contain_text("<img src=x onerror=alert(1)>")
        expect(last_reply(page)).to_contain_text("<img src=x onerror=alert(1)><script>alert(2)</script>")
        assert transcript.locator("img, script, iframe").count() == 0
        for link in transcript.locator("a").all():
            assert not (link.get_attribute("href") or "").lower().startswith("javascript")
            link.click()
        assert dialogs == []

    assert_inert()  # as streamed and then rendered live
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    assert_inert()  # as rendered by the server from the database


def test_two_tabs_on_one_conversation_stay_in_sync(new_context, user):
    context = new_context(user)
    conversation = conversation_for(user)
    first, second = open_conversation(context, conversation), open_conversation(context, conversation)

    send(first, "what is 12*7")

    for page in (first, second):
        expect(page.locator(".msg-user")).to_have_text("what is 12*7")
        expect(page.locator(".tool-card .tool-result")).to_contain_text('"result": 84')
        expect(last_reply(page)).to_have_text("12*7 = 84")
        expect(page.locator("#conversation-title")).to_have_text("what is 12*7")
        wait_idle(page)

    send(second, "what is 6*7")  # and back the other way
    expect(last_reply(first)).to_have_text("6*7 = 42")
    wait_idle(first)
    wait_idle(second)


def test_the_pages_fit_a_phone_screen_without_horizontal_scrolling(new_context, user):
    context = new_context(user, viewport=PHONE)
    conversation = conversation_for(user, title="A conversation with a rather long title on a small phone")
    page = open_conversation(context, conversation)
    send(page, "what is 12*7")
    wait_idle(page)
    send(page, "note: " + "unbroken" * 30)
    wait_idle(page)
    expect(page.locator(".tool-card")).to_have_count(2)

    def overflow() -> int:
        return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")

    assert overflow() <= 0
    expect(page.locator("#send-button")).to_be_in_viewport()
    page.screenshot(path="/tmp/toolgate-phone.png")

    page.goto("/")
    expect(page.locator(".conversation-row")).to_have_count(1)
    assert overflow() <= 0
    page.screenshot(path="/tmp/toolgate-phone-list.png")


def test_a_dropped_connection_reconnects_and_resumes_from_the_last_seq(new_context, user):
    page = new_context(user).new_page()
    sockets: list[Any] = []

    def through(ws: Any) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/conversations/"), through)
    page.goto(f"/c/{conversation_for(user, 'slow').pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    page.evaluate("""() => {
        window.states = [];
        window.streamed = "";
        const log = document.getElementById("transcript");
        new MutationObserver(() => {
            const body = log.querySelector(".msg-streaming .msg-body");
            if (body) window.streamed = body.textContent;
        }).observe(log, {childList: true, subtree: true, characterData: true});
        const connection = document.getElementById("connection");
        new MutationObserver(() => window.states.push(connection.dataset.state))
            .observe(connection, {attributes: true, attributeFilter: ["data-state"]});
    }""")

    send(page, "keep going")
    expect(page.locator(".msg-streaming")).to_contain_text("word5")
    sockets[0].close(code=4000, reason="the test drops the connection")

    wait_idle(page)
    assert len(sockets) == 2
    assert after_of(sockets[0]) == 0 and after_of(sockets[1]) > 1  # resumed mid-stream, not restarted
    assert "reconnecting" in page.evaluate("window.states")
    expect(page.locator("#connection")).to_have_text("Connected")
    assert page.evaluate("window.streamed") == SLOW_ANSWER  # nothing lost, nothing twice


def test_a_message_sent_as_the_connection_drops_is_delivered_once_after_reconnecting(new_context, user):
    page = new_context(user).new_page()
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        if not sockets:  # the first connection loses what the page sends, then dies
            ws.on_message(lambda frame: ws.close(code=4000, reason="lost") if "user.message" in frame
                          else server.send(frame))
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/conversations/"), route)
    conversation = conversation_for(user)
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    send(page, "what is 12*7")

    expect(last_reply(page)).to_have_text("12*7 = 84")
    wait_idle(page)
    assert len(sockets) == 2
    expect(page.locator(".msg-user")).to_have_count(1)
    expect(page.locator("#alerts .alert")).to_have_count(0)
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1


def test_a_message_resent_after_a_reconnect_that_had_arrived_is_not_run_twice(new_context, user):
    page = new_context(user).new_page()
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        if not sockets:  # the first connection delivers the message, then dies before any answer
            ws.on_message(lambda frame: (server.send(frame), ws.close(code=4000, reason="lost"))
                          if "user.message" in frame else server.send(frame))
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/conversations/"), route)
    conversation = conversation_for(user, "slow")
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    send(page, "only once")

    wait_idle(page)
    assert len(sockets) == 2
    expect(page.locator(".msg-user")).to_have_count(1)
    expect(page.locator("#alerts .alert")).to_have_count(0)  # the server's duplicate_message is expected
    expect(last_reply(page)).to_contain_text("word40")
    assert Run.objects.filter(conversation=conversation).count() == 1


def test_a_call_waiting_for_approval_blocks_the_composer_until_the_run_ends(new_context, user):
    """The test plays the server: protocol events straight to the page, no run behind them."""
    conversation = conversation_for(user)
    page = new_context(user).new_page()
    sockets: list[Any] = []
    page.route_web_socket(re.compile(r"/ws/conversations/"), lambda ws: sockets.append(ws))
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    def push(seq: int, event: dict[str, Any]) -> None:
        sockets[-1].send(json.dumps({**event, "conversation_id": str(conversation.pk), "seq": seq}))

    call = {"id": "call_1", "name": "delete_note", "arguments": '{"note_id": 3}'}
    run = {"id": str(uuid.uuid4()), "steps": 1, "usage": {"input_tokens": 5, "output_tokens": 5}}
    push(1, {"type": "message.created", "message": {"id": str(uuid.uuid4()), "role": "user",
                                                    "content": "delete note 3", "status": "complete"}})
    push(2, {"type": "tool.call", "tool_call": {**call, "status": "running"}})
    push(3, {"type": "tool.result", "tool_call": {**call, "status": "pending", "duration_ms": 0.4}})
    push(4, {"type": "approval.requested", "tool_call": {**call, "status": "pending", "duration_ms": 0.4}})
    push(5, {"type": "run.waiting", "run": {**run, "status": "waiting"}})

    card = page.locator(".tool-card")
    expect(card.locator(".tool-status")).to_have_text("Waiting for approval")
    expect(card.locator(".tool-args")).to_contain_text('"note_id": 3')
    expect(page.locator("#run-status")).to_have_text("Waiting for approval")
    expect(page.locator("#composer-input")).to_be_disabled()
    expect(page.locator("#stop-button")).to_be_enabled()

    denied = {**call, "status": "error", "error": {"type": "denied", "message": "not today"}}
    push(6, {"type": "approval.decided", "tool_call": denied, "decision": "denied", "reason": "not today"})
    push(7, {"type": "tool.result", "tool_call": {**denied, "duration_ms": 0.4}})
    answer = {"id": str(uuid.uuid4()), "role": "assistant", "content": "Denied.", "status": "complete"}
    push(8, {"type": "assistant.message", "message": {**answer, "html": "<p>The call was denied.</p>"}})
    push(8, {"type": "assistant.message", "message": {**answer, "html": "<p>A REPLAYED COPY</p>"}})
    push(9, {"type": "run.finished", "run": {**run, "status": "completed"}})

    wait_idle(page)
    expect(card.locator(".tool-status")).to_have_text("Denied")
    expect(card.locator(".tool-error")).to_have_text("denied not today")
    expect(page.locator(".msg-assistant .markdown")).to_have_text("The call was denied.")  # seq 8 once


def test_sync_required_reloads_the_page_and_resumes_after_the_given_seq(new_context, user):
    page = new_context(user).new_page()
    sockets: list[Any] = []
    seen: list[int] = []

    def through(ws: Any) -> None:
        server = ws.connect_to_server()

        def forward(frame: Any) -> None:
            seen.append(json.loads(frame).get("seq", 0))
            ws.send(frame)

        server.on_message(forward)
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/conversations/"), through)
    conversation = conversation_for(user, "slow")
    page.goto(f"/c/{conversation.pk}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send(page, "a slow one")
    expect(page.locator(".msg-streaming")).to_contain_text("word3")

    # As the server says it when it no longer has the events a client asks for; mid-run,
    # the page's render knows an older seq than this one (it is stored when a run ends).
    last = max(seen)
    sockets[0].send(json.dumps({"type": "sync.required", "conversation_id": str(conversation.pk), "seq": last,
                                "message": "Some events are no longer available; reload the conversation."}))

    page.wait_for_event("load")
    expect(page.locator(".msg-user")).to_have_text("a slow one")
    wait_idle(page)
    assert [after_of(ws) for ws in sockets] == [0, last]
    expect(last_reply(page)).to_contain_text("word40")


def test_a_retried_answer_drops_the_withdrawn_text_and_says_it_is_retrying(new_context, user):
    page = open_conversation(new_context(user), conversation_for(user, "flaky"))
    send(page, "flaky: The answer that stays.")
    notice = page.locator(".msg-assistant .msg-retry")
    expect(notice).to_contain_text("retrying (attempt 2)", timeout=RUN_TIMEOUT)
    expect(page.locator(".msg-assistant").last).not_to_contain_text("Withdrawn")
    wait_idle(page)
    expect(last_reply(page)).to_have_text("The answer that stays.")
    expect(notice).to_have_count(0)
    assert "Withdrawn" not in page.locator("#transcript").inner_text()
