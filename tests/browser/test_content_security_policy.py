"""The pages work under the strict Content-Security-Policy, in a real browser.

Every page is opened in headless Chromium with a watcher installed before any page script
runs: it records each ``securitypolicyviolation`` event, and the console is read for
Chromium's "Refused to …" CSP messages. Each test then checks that the page really did its
job (the chat streamed a reply with a tool card over its WebSocket, the admin's live counter
connected, the token form posted, Swagger UI rendered the API) and that nothing was refused.
The first test proves the watcher sees a violation when there is one.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from tests.approvals.test_admin import parked
from tests.browser.test_approval_flow import approver  # noqa: F401 -- fixture
from tests.browser.test_chat_page import conversation_for, last_reply, open_conversation, send, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
                    `at ${event.sourceFile || location.pathname}:${event.lineNumber}`);
});
"""


class Watched:
    """A browser context whose pages report every CSP violation."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.console: list[str] = []
        self.pages: list[Page] = []
        context.add_init_script(WATCH)

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", self._console)
        self.pages.append(page)
        return page

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        found = list(self.console)
        for page in self.pages:
            if not page.is_closed():
                found += page.evaluate("window.__csp || []")
        return found


@pytest.fixture
def watched(new_context):
    def make(user: Any = None) -> Watched:
        return Watched(new_context(user))
    return make


def test_the_watcher_reports_inline_script_and_style_as_violations(watched, user):
    browser = watched(user)
    page = browser.page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
        document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: red">x</p>');
    }""")
    expect(page.locator("#styled")).to_be_attached()
    page.wait_for_function("window.__csp.length >= 2")
    assert page.evaluate("window.inlineRan") is None  # the inline script never ran
    violations = browser.violations()
    assert any(v.startswith("script-src-elem blocked inline") for v in violations), violations
    assert any(v.startswith("style-src-attr blocked inline") for v in violations), violations


def test_the_chat_streams_a_reply_with_a_tool_card_without_violations(watched, user):
    browser = watched(user)
    page = open_conversation(browser.context, conversation_for(user))  # the WebSocket connected
    browser.pages.append(page)
    page.on("console", browser._console)

    send(page, "what is 12*7")

    card = page.locator(".tool-card")
    expect(card.locator(".tool-name")).to_have_text("calculator")
    expect(card).to_have_attribute("data-status", "ok")
    expect(card.locator(".tool-result")).to_contain_text('"result": 84')
    expect(last_reply(page)).to_have_text("12*7 = 84")
    wait_idle(page)
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator(".tool-card .tool-result")).to_contain_text('"result": 84')
    assert browser.violations() == []


def test_a_slow_reply_streams_over_the_socket_without_violations(watched, user):
    browser = watched(user)
    page = open_conversation(browser.context, conversation_for(user, "slow"))
    browser.pages.append(page)
    send(page, "tell me something slowly")
    expect(page.locator(".msg-streaming")).to_contain_text("word5")  # arriving piece by piece
    wait_idle(page)
    expect(last_reply(page).locator("strong")).to_have_text("done")
    assert browser.violations() == []


def test_the_approval_queue_and_a_request_work_without_violations(watched, user, approver):  # noqa: F811
    request = parked(user, arguments={"to": ["bob@example.com"], "body": "<script>alert(1)</script>"})
    approver.user_permissions.add(Permission.objects.get(codename="view_toolcall"))
    browser = watched(approver)
    page = browser.page()

    page.goto("/admin/approvals/approvalrequest/")
    expect(page.locator("#toolgate-pending-count")).to_have_text("1")
    expect(page.locator("#toolgate-queue-live")).to_contain_text("Live")  # its script ran, its socket opened
    page.locator(f'a[href$="/approvalrequest/{request.pk}/change/"]').first.click()
    expect(page.locator(".toolgate-approval")).to_contain_text("bob@example.com")
    expect(page.locator(".toolgate-approval pre").first).to_contain_text("<script>alert(1)</script>")

    page.goto("/admin/tools/toolcall/")  # a list with no actions: Django's inline <style> replaced
    expect(page.locator("#result_list")).to_be_visible()
    page.goto(f"/admin/tools/toolcall/{request.tool_call_id}/change/")
    expect(page.locator("pre.toolgate-pre").first).to_have_css("white-space", "pre-wrap")  # css/admin.css
    page.goto("/admin/")
    expect(page.locator("#content-main")).to_be_visible()
    assert browser.violations() == []


def test_the_api_tokens_page_and_the_api_docs_work_without_violations(watched, user):
    browser = watched(user)
    page = browser.page()

    page.goto("/settings/tokens/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_have_value(re.compile(r"^tg_"))

    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Toolgate API")
    expect(page.locator(".opblock").first).to_be_visible()  # the schema was fetched and rendered
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.get_by_role("button", name="Try it out").click()  # fetch() to the API: connect-src 'self'
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    page.screenshot(path="/tmp/toolgate-api-docs.png")
    assert browser.violations() == []


def test_signing_in_and_the_lockout_page_work_without_violations(watched, user):
    browser = watched()
    page = browser.page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw-alice-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()

    locked = watched().page()
    browser.pages.append(locked)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked.goto("/accounts/login/")
        locked.get_by_label("Username").fill("alice")
        locked.get_by_label("Password").fill("not-the-password")
        locked.get_by_role("button", name="Sign in").click()
    expect(locked.get_by_role("heading", name="Too many sign-in attempts")).to_be_visible()
    locked.screenshot(path="/tmp/toolgate-locked-out.png")
    assert browser.violations() == []
