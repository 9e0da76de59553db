"""The live approval queue in real browsers: requests appear and leave without a reload, the
title badge and the optional chime, filters and sorting by expiry, bulk deny with one reason,
and what a non-approver or a hostile argument gets (nothing, and text)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from approvals.models import ApprovalRequest, AuditEvent
from assistant.api import tokens
from tests.browser.test_chat_page import conversation_for, open_conversation, send
from tests.browser.test_screenshots import SHOTS, SIZES
from tools.models import Note, ToolCall

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

QUEUE = "/admin/approvals/approvalrequest/"
ROWS = "#result_list tbody tr"
LIVE = 20_000  # ms: a change reaches the page over the socket, then one fetch; the machine is loaded
COUNT_OSCILLATORS = """
window.__chimes = 0;
const made = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__chimes += 1; return made.call(this); };
"""


def make_approver(django_user_model: Any, name: str) -> Any:
    person = django_user_model.objects.create_user(name, f"{name}@example.com", f"pw-{name}-12345",
                                                   is_staff=True)
    decide = Permission.objects.get(codename="decide", content_type__app_label="approvals")
    person.user_permissions.add(decide)
    return person


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model, "bob")


def call_tool(live_app: Any, user: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A call through the REST API, served by the live server: it parks there, and the
    server's own channel layer rings the approvers' sockets."""
    secret = tokens.create(user, f"queue test {tool}").secret
    request = urllib.request.Request(
        f"{live_app.url}/api/v1/tools/{tool}/call", data=json.dumps(arguments).encode(), method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202, response.read()
        return json.loads(response.read())


def mail(live_app: Any, user: Any, subject: str = "Lunch") -> int:
    answer = call_tool(live_app, user, "send_email",
                       {"to": ["sam@example.org"], "subject": subject, "body": "See you at noon."})
    return answer["approval_id"]


def parked(user: Any, *, tool: str = "send_email", risk: str = "high", minutes: int = 60, waited: int = 0,
           scope: dict[str, Any] | None = None, arguments: dict[str, Any] | None = None) -> ApprovalRequest:
    """A request written straight to the database (nobody is told: for pages opened after)."""
    record = ToolCall.objects.create(call_id=f"c{ToolCall.objects.count()}", tool_name=tool, status="pending",
                                     user=user, username=user.username, scope=scope or {"source": "api"},
                                     arguments=arguments or {"to": ["x@example.org"]}, risk=risk)
    now = timezone.now()
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=tool, arguments=record.arguments, risk=risk, rule=f"risk:{risk}",
        requester=user, created_at=now - timezone.timedelta(minutes=waited),
        expires_at=now + timezone.timedelta(minutes=minutes))


def open_queue(context: Any, query: str = "") -> Any:
    page = context.new_page()
    page.goto(QUEUE + query)
    expect(page.locator("#toolgate-queue-live")).to_contain_text("Live")
    page.evaluate("window.__sameDocument = 'yes'")  # gone if anything reloads the page
    return page


def row_ids(page: Any) -> list[int]:
    return [int(v) for v in page.locator("input.action-select").evaluate_all("els => els.map(e => e.value)")]


def refreshes(page: Any) -> int:
    return int(page.evaluate("document.body.dataset.queueRefreshed || '0'"))


def wait_for_refresh(page: Any, before: int) -> None:
    """Until the page has fetched its list again (the CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + LIVE / 1000
    while refreshes(page) <= before:
        assert time.monotonic() < deadline, "the page did not refresh its list"
        page.wait_for_timeout(100)


def test_a_new_request_appears_without_reload_and_leaves_when_another_approver_decides_it(
        new_context, user, approver, django_user_model):
    carol = make_approver(django_user_model, "carol")
    queue = open_queue(new_context(approver))
    expect(queue.locator(ROWS)).to_have_count(0)
    title = queue.title()

    note = Note.objects.create(owner=user, text="buy milk")
    chat = open_conversation(new_context(user), conversation_for(user))
    send(chat, f"delete note {note.pk}")  # the chat parks delete_note in the other browser
    row = queue.locator(ROWS).filter(has_text="delete_note")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_have_class(re.compile(r"\btoolgate-new-row\b"))
    expect(row).to_contain_text("chat")
    expect(queue).to_have_title(f"(1) {title}")
    expect(queue.locator("#toolgate-pending-count")).to_have_text("1")

    request = ApprovalRequest.objects.get(tool_name="delete_note")
    decider = new_context(carol).new_page()
    decider.goto(f"{QUEUE}{request.pk}/change/")
    decider.get_by_label("Reason (shown to the user and the model)").fill("keep that note")
    decider.get_by_role("button", name="Deny").click()
    expect(decider.locator(".messagelist")).to_contain_text("denied")

    expect(queue.locator(ROWS)).to_have_count(0, timeout=LIVE)
    expect(queue).to_have_title(title)
    expect(queue.locator("#toolgate-pending-count")).to_have_text("0")
    expect(queue.locator("#toolgate-queue-live")).to_contain_text("left the queue")
    assert queue.evaluate("window.__sameDocument") == "yes"


def test_the_title_badge_and_the_chime_are_options_remembered_per_approver(new_context, live_app, user,
                                                                            approver, django_user_model):
    context = new_context(approver)
    context.add_init_script(COUNT_OSCILLATORS)
    queue = open_queue(context)
    title = queue.title()
    sound = queue.get_by_label("Sound for new requests")
    badge = queue.get_by_label("Count in the tab title")
    expect(sound).not_to_be_checked()  # off unless the approver turns it on
    expect(badge).to_be_checked()
    sound.check()
    assert queue.evaluate("window.__chimes") == 1  # a sample when it is turned on

    queue.reload()
    expect(queue.locator("#toolgate-queue-live")).to_contain_text("Live")
    expect(queue.get_by_label("Sound for new requests")).to_be_checked()
    mail(live_app, user)
    expect(queue.locator(ROWS)).to_have_count(1, timeout=LIVE)
    expect(queue).to_have_title(f"(1) {title}")
    assert queue.evaluate("window.__chimes") == 1  # the reload reset the counter; this is the arrival

    before = refreshes(queue)
    mail(live_app, approver)  # bob's own request: listed, but not his to decide
    expect(queue.locator(ROWS)).to_have_count(2, timeout=LIVE)
    wait_for_refresh(queue, before)
    expect(queue).to_have_title(f"(1) {title}")
    assert queue.evaluate("window.__chimes") == 1

    queue.get_by_label("Count in the tab title").uncheck()
    expect(queue).to_have_title(title)
    queue.reload()
    expect(queue.get_by_label("Count in the tab title")).not_to_be_checked()
    expect(queue).to_have_title(title)
    other = new_context(make_approver(django_user_model, "carol")).new_page()
    other.goto(QUEUE)  # another approver's choices are their own
    expect(other.get_by_label("Count in the tab title")).to_be_checked()
    expect(other.get_by_label("Sound for new requests")).not_to_be_checked()


def test_filters_and_sorting_by_expiry_hold_while_the_list_updates_live(new_context, live_app, user,
                                                                        other_user, approver):
    soon = parked(user, minutes=5, waited=1)
    late = parked(user, minutes=50, waited=1)
    chatty = parked(other_user, tool="delete_note", minutes=30, waited=180,
                    scope={"conversation": "c1"}, arguments={"note_id": 1})
    ApprovalRequest.objects.filter(pk=chatty.pk).update(conversation_id="c1")
    queue = open_queue(new_context(approver))
    assert row_ids(queue) == [soon.pk, chatty.pk, late.pk]  # soonest to expire first

    queue.locator("#result_list thead th.column-expires .text a").click()  # sort by expiry, latest first
    expect(queue.locator(ROWS)).to_have_count(3)
    expect(queue.locator("input.action-select").first).to_have_value(str(late.pk))
    assert row_ids(queue) == [late.pk, chatty.pk, soon.pk]

    filters = queue.locator("#changelist-filter")
    filters.get_by_role("link", name="chat", exact=True).click()
    expect(queue.locator(ROWS)).to_have_count(1)
    assert row_ids(queue) == [chatty.pk]
    filters.get_by_role("link", name="REST API").click()
    expect(queue.locator(ROWS)).to_have_count(2)
    assert row_ids(queue) == [late.pk, soon.pk]  # the sort holds under the filter
    filters.get_by_role("link", name="over 2 hours").click()
    expect(queue.locator(ROWS)).to_have_count(0)
    queue.goto(QUEUE + f"?source=api&requester__id__exact={user.pk}&o=-7")  # column 7: expires
    expect(queue.locator("#toolgate-queue-live")).to_contain_text("Live")
    assert row_ids(queue) == [late.pk, soon.pk]

    before = refreshes(queue)
    mail(live_app, other_user)  # another requester: the filter keeps it out
    wait_for_refresh(queue, before)
    assert row_ids(queue) == [late.pk, soon.pk]
    new = mail(live_app, user)  # expires last, so it arrives at the top
    expect(queue.locator(ROWS)).to_have_count(3, timeout=LIVE)
    assert row_ids(queue) == [new, late.pk, soon.pk]
    assert "source=api" in queue.url


def test_bulk_deny_with_one_reason_denies_each_request_and_audits_each(new_context, user, approver):
    first, second, third = parked(user, minutes=5), parked(user, minutes=10), parked(user, minutes=15)
    queue = open_queue(new_context(approver))
    queue.locator(f'input.action-select[value="{first.pk}"]').check()
    queue.locator(f'input.action-select[value="{second.pk}"]').check()
    expect(queue.locator(".action-counter")).to_contain_text("2 of 3 selected")
    queue.locator("select[name=action]").select_option("deny_selected")
    queue.locator("button[name=index]").first.click()

    expect(queue.locator("#content-main")).to_contain_text(f"send_email #{first.pk}")
    expect(queue.locator("#content-main")).to_contain_text(f"send_email #{second.pk}")
    queue.get_by_label("Reason (shown to each user and their model)").fill("no outside mail this week")
    queue.get_by_role("button", name="Deny 2 requests").click()

    expect(queue.locator(".messagelist")).to_contain_text("Denied 2 requests.")
    expect(queue.locator(ROWS)).to_have_count(1)
    assert row_ids(queue) == [third.pk]
    decided = AuditEvent.objects.filter(kind="approval.decided").order_by("seq")
    assert [(e.data["approval_id"], e.outcome, e.actor, e.data["reason"]) for e in decided] == [
        (first.pk, "denied", "bob", "no outside mail this week"),
        (second.pk, "denied", "bob", "no outside mail this week")]
    assert ApprovalRequest.objects.get(pk=third.pk).status == "pending"


def test_the_selection_survives_a_live_update(new_context, live_app, user, approver):
    first = parked(user, minutes=5)
    queue = open_queue(new_context(approver))
    queue.locator(f'input.action-select[value="{first.pk}"]').check()
    mail(live_app, user)
    expect(queue.locator(ROWS)).to_have_count(2, timeout=LIVE)
    expect(queue.locator(f'input.action-select[value="{first.pk}"]')).to_be_checked()
    expect(queue.locator(".action-counter")).to_contain_text("1 of 2 selected")
    queue.locator("#action-toggle").check()  # Django's select-all works on the new rows too
    expect(queue.locator(".action-counter")).to_contain_text("2 of 2 selected")


def test_a_non_approvers_socket_receives_nothing_and_their_page_stays_as_it_was(new_context, live_app,
                                                                                  user, django_user_model):
    viewer = django_user_model.objects.create_user("vic", "vic@example.com", "pw-vic-12345", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_approvalrequest"))
    page = new_context(viewer).new_page()
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))))
    page.goto(QUEUE)
    expect(page.locator("#toolgate-queue-live")).to_contain_text("Live updates are for approvers")
    mail(live_app, user)
    page.wait_for_timeout(3000)  # time for a ring to arrive, were one sent
    expect(page.locator(ROWS)).to_have_count(0)
    assert refreshes(page) == 0
    assert frames == []
    page.reload()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # it was there all along, for a reload


def test_hostile_tool_names_and_arguments_stay_text_in_the_live_rows(new_context, live_app, user, approver,
                                                                    dialogs):
    queue = open_queue(new_context(approver))
    parked(user, tool='<img src=x onerror="alert(1)">',
           arguments={"note": "<svg onload=alert(2)>", "api_key": "sk-live-123"})
    mail(live_app, user, subject="<script>alert(3)</script>")  # rings: both rows arrive live
    expect(queue.locator(ROWS)).to_have_count(2, timeout=LIVE)
    rows = queue.locator(ROWS)
    expect(rows.filter(has_text='<img src=x onerror="alert(1)">')).to_have_count(1)
    expect(rows.filter(has_text="<svg onload=alert(2)>")).to_have_count(1)
    expect(rows.filter(has_text="<script>alert(3)</script>")).to_have_count(1)
    assert queue.locator("#result_list img, #result_list svg, #result_list tbody script").count() == 0
    expect(queue.locator("#result_list")).not_to_contain_text("sk-live-123")
    assert dialogs == []
    assert queue.evaluate("window.__sameDocument") == "yes"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_live_queue(new_context, live_app, user, other_user, approver, scheme,
                                       tmp_path_factory):
    parked(user, minutes=4, waited=56, arguments={"to": ["sam@example.org"], "subject": "Q3 numbers"})
    parked(other_user, tool="delete_note", minutes=40, waited=20, scope={"conversation": "c1"},
           arguments={"note_id": 12})
    page = new_context(approver).new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(QUEUE)
    expect(page.locator("#toolgate-queue-live")).to_contain_text("Live")
    mail(live_app, user, subject="Invoice for ACME")
    expect(page.locator(ROWS)).to_have_count(3, timeout=LIVE)
    page.locator("input.action-select").nth(1).check()
    path = tmp_path_factory.getbasetemp() / f"live-queue-{scheme}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    page.locator("input.action-select").nth(0).check()
    page.locator("select[name=action]").select_option("deny_selected")
    page.locator("button[name=index]").first.click()
    expect(page.get_by_role("button", name="Deny 2 requests")).to_be_visible()
    path = tmp_path_factory.getbasetemp() / f"bulk-deny-{scheme}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_queue_fits_the_window_without_horizontal_scrolling(new_context, user, other_user, approver,
                                                                size, scheme):
    parked(user, minutes=4, waited=56, arguments={
        "to": ["sam@example.org", "kim@example.org"], "subject": "Q3 numbers and the revised forecast",
        "body": "Hello Sam, attached are the numbers for the third quarter " * 3})
    parked(other_user, tool="delete_note", risk="medium", minutes=40, waited=20, scope={"conversation": "c1"},
           arguments={"note_id": 12})
    parked(user, tool="run_python", minutes=200, waited=3, scope={"source": "mcp", "client": "desktop"},
           arguments={"code": "print('x' * 80)  # " + "a_very_long_identifier_without_spaces" * 3})
    page = new_context(approver, viewport=SIZES[size]).new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(QUEUE)
    expect(page.locator(ROWS)).to_have_count(3)
    path = SHOTS / f"queue-{size}-{scheme}.png"
    page.screenshot(path=str(path), full_page=True)
    assert overflow(page) <= 1, f"the queue is {overflow(page)} px wider than the window ({path})"
    hidden = page.evaluate("(() => { const r = document.querySelector('#changelist-form .results');"
                           " return r.scrollWidth - r.clientWidth; })()")
    assert hidden <= 1, f"the list scrolls sideways by {hidden} px inside the page ({path})"
    if size == "desktop":  # every column's header is on screen, not behind a scrollbar
        right = page.evaluate("Math.max(...[...document.querySelectorAll('#result_list th')]"
                              ".map((th) => th.getBoundingClientRect().right))")
        assert right <= SIZES[size]["width"], right
    # Every status: two more columns (status, decided by).
    ApprovalRequest.objects.filter(tool_name="delete_note").update(
        status="denied", decided_by=approver, decided_at=timezone.now(), reason="Not today")
    page.goto(QUEUE + "?status=all")
    expect(page.locator("#result_list thead th.column-decided_by")).to_have_count(1)
    page.screenshot(path=str(SHOTS / f"queue-all-{size}-{scheme}.png"), full_page=True)
    assert overflow(page) <= 1
    assert page.evaluate("(() => { const r = document.querySelector('#changelist-form .results');"
                         " return r.scrollWidth - r.clientWidth; })()") <= 1


def test_waiting_and_expires_stay_current_without_a_reload(new_context, live_app, user, approver):
    request = parked(user, minutes=30, waited=2)
    context = new_context(approver)
    page = context.new_page()
    page.clock.install()  # the page's timers run when the test says: 30 s pass in an instant
    page.goto(QUEUE)
    expect(page.locator("#toolgate-queue-live")).to_contain_text("Live")
    page.evaluate("window.__sameDocument = 'yes'")
    expect(page.locator("#toolgate-queue-live")).to_have_attribute("data-refresh-ms", "30000")
    row = page.locator(ROWS).first
    expect(row.locator("td.field-waited")).to_have_text(re.compile(r"^2\s+minutes$"))
    expect(row.locator("td.field-expires")).to_have_text(re.compile(r"^in (29|30)\s+minutes$"))
    # Time passes and nobody rings the socket: the next periodic refresh shows it.
    ApprovalRequest.objects.filter(pk=request.pk).update(
        created_at=timezone.now() - timezone.timedelta(hours=2, minutes=5),
        expires_at=timezone.now() - timezone.timedelta(seconds=5))
    before = refreshes(page)
    page.clock.run_for(20_000)  # not yet: the list is refreshed every 30 s
    page.wait_for_timeout(500)
    assert refreshes(page) == before
    expect(row.locator("td.field-waited")).to_have_text(re.compile(r"^2\s+minutes$"))
    page.clock.run_for(11_000)
    expect(row.locator("td.field-waited")).to_have_text(re.compile(r"^2\s+hours,\s+5\s+minutes$"),
                                                         timeout=LIVE)
    expect(row.locator("td.field-expires")).to_have_text("expired")
    assert page.evaluate("window.__sameDocument") == "yes"  # updated in place, never reloaded


def test_the_live_options_are_offered_only_with_the_script_that_honours_them(new_context, approver):
    """Without approvals_queue.js the two check boxes would change nothing, so they are not drawn."""
    page = new_context(approver, java_script_enabled=False).new_page()
    page.goto(QUEUE)
    expect(page.locator("#result_list, .toolgate-queue-bar").first).to_be_attached()
    expect(page.get_by_label("Count in the tab title")).to_be_hidden()
    expect(page.get_by_label("Sound for new requests")).to_be_hidden()
    expect(open_queue(new_context(approver)).get_by_label("Count in the tab title")).to_be_visible()
