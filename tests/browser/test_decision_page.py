"""The approver's decision page in a real browser: the chat-rendered context, the form
generated from the tool's schema (an invalid value refused before submit), the diff of what
will run, keyboard shortcuts and moving on to the next pending request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from assistant.models import Conversation, Message
from tools.models import ToolCall

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ARGS = {"to": ["sam@example.com"], "subject": "Lunch", "body": "See you at noon."}


@pytest.fixture
def approver(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return bob


def parked_mail(user, minutes=60, call_id="call_mail"):
    convo = Conversation.objects.create(owner=user, profile="demo")
    Message.objects.create(conversation=convo, position=0, role="user", content="mail Sam about lunch")
    Message.objects.create(conversation=convo, position=1, role="assistant", content="Sending **now**.",
                           tool_calls=[{"id": call_id, "name": "send_email",
                                        "arguments": '{"subject": "Lunch"}'}])
    record = ToolCall.objects.create(call_id=call_id, tool_name="send_email", status="pending", user=user,
                                     username=user.username, arguments=ARGS, pending_arguments=ARGS,
                                     risk="high", scope={"conversation": str(convo.pk)})
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name="send_email", arguments=ARGS, risk="high", requester=user,
        rule="rule:1:recipient outside example.com", reason_required="recipient outside example.com",
        conversation_id=str(convo.pk), expires_at=timezone.now() + timezone.timedelta(minutes=minutes))


def open_page(new_context, approver, request, console):
    page = new_context(approver).new_page()
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    expect(page.locator(".toolgate-approval.toolgate-form-ready")).to_be_visible()
    return page


def test_the_page_shows_the_conversation_as_the_chat_renders_it_and_the_rule_in_words(new_context, user,
                                                                                      approver):
    console: list[str] = []
    page = open_page(new_context, approver, parked_mail(user), console)
    transcript = page.locator(".toolgate-transcript")
    expect(transcript.locator(".msg-user")).to_have_text("mail Sam about lunch")
    expect(transcript.locator(".msg-assistant strong")).to_have_text("now")
    expect(transcript.locator(".tool-card .tool-name")).to_have_text("send_email")
    expect(page.locator("#toolgate-rule")).to_contain_text("send_email: recipient outside example.com")
    expect(page.locator("#toolgate-source")).to_have_text("chat")
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m]


def test_an_invalid_value_is_refused_before_submit_and_a_valid_edit_shows_its_diff(new_context, user,
                                                                                   approver):
    console: list[str] = []
    request = parked_mail(user)
    page = open_page(new_context, approver, request, console)
    subject = page.get_by_label("subject *")
    expect(subject).to_have_value("Lunch")
    expect(page.locator("#toolgate-edit-diff")).to_have_text("No changes: this runs as asked.")
    subject.fill("x" * 201)
    expect(page.locator("#toolgate-field-subject-error")).to_have_text("must have at most 200 characters")
    expect(subject).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#toolgate-approve-edited")).to_be_disabled()
    page.get_by_label("to *").fill("")
    expect(page.locator("#toolgate-edit-errors")).to_contain_text("to: is required")
    page.locator("#toolgate-approve-edited").click(force=True)  # a disabled button submits nothing
    request.refresh_from_db()
    assert request.status == "pending"

    page.get_by_label("to *").fill("sam@example.com\nkim@example.com")
    subject.fill("Lunch moved to 1pm")
    expect(page.locator("#toolgate-edit-errors")).to_be_hidden()
    diff = page.locator("#toolgate-edit-diff")
    expect(diff.locator(".toolgate-diff-del")).to_have_text(['-     "sam@example.com"\n',
                                                            '-   "subject": "Lunch",\n'])
    expect(diff.locator(".toolgate-diff-add")).to_have_text(['+     "sam@example.com",\n',
                                                            '+     "kim@example.com"\n',
                                                            '+   "subject": "Lunch moved to 1pm",\n'])
    expect(diff).to_contain_text('    "body": "See you at noon."')  # unchanged lines stay, unmarked
    page.locator("#toolgate-approve-edited").click()
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text(f"send_email #{request.pk} approved", ignore_case=True)
    request.refresh_from_db()
    assert request.status == "approved"
    assert request.edited_arguments == {"to": ["sam@example.com", "kim@example.com"],
                                        "subject": "Lunch moved to 1pm", "body": "See you at noon."}


def test_shortcuts_deny_with_a_reason_and_lead_to_the_next_request(new_context, user, approver):
    console: list[str] = []
    first = parked_mail(user, minutes=10, call_id="call_a")
    second = parked_mail(user, minutes=50, call_id="call_b")
    page = open_page(new_context, approver, first, console)
    page.locator("body").press("d")
    expect(page.locator("#reason")).to_be_focused()
    page.keyboard.type("not to outside addresses")
    page.keyboard.press("Enter")  # denies; never the form's first button (Approve)
    expect(page.locator(".messagelist")).to_contain_text(f"send_email #{first.pk} denied", ignore_case=True)
    expect(page).to_have_url(f"{page.url.split('/admin/')[0]}/admin/approvals/approvalrequest/{second.pk}/change/")
    first.refresh_from_db()
    assert (first.status, first.reason) == ("denied", "not to outside addresses")

    expect(page.locator(".toolgate-approval.toolgate-form-ready")).to_be_visible()
    page.locator("body").press("e")
    expect(page.get_by_label("to *")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("body").press("a")
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text(f"send_email #{second.pk} approved", ignore_case=True)
    second.refresh_from_db()
    assert second.status == "approved" and second.edited_arguments is None


def test_n_opens_the_next_pending_request(new_context, user, approver):
    console: list[str] = []
    first = parked_mail(user, minutes=10, call_id="call_a")
    second = parked_mail(user, minutes=50, call_id="call_b")
    page = open_page(new_context, approver, first, console)
    page.locator("body").press("n")
    expect(page).to_have_url(f"{page.url.split('/admin/')[0]}/admin/approvals/approvalrequest/{second.pk}/change/")
    assert ApprovalRequest.objects.get(pk=first.pk).status == "pending"


def test_hostile_argument_values_stay_text_in_the_generated_form(new_context, user, approver, dialogs):
    console: list[str] = []
    request = parked_mail(user)
    hostile = {**ARGS, "subject": '<img src=x onerror="alert(1)">',
               "body": "</textarea><script>alert(2)</script>"}
    ApprovalRequest.objects.filter(pk=request.pk).update(arguments=hostile)
    page = open_page(new_context, approver, request, console)
    expect(page.get_by_label("subject *")).to_have_value('<img src=x onerror="alert(1)">')
    expect(page.get_by_label("body *")).to_have_value("</textarea><script>alert(2)</script>")
    assert page.locator("#toolgate-schema-form img, #toolgate-schema-form script").count() == 0
    assert dialogs == []


def test_approve_and_allow_for_the_conversation_from_the_page(new_context, user, approver):
    from approvals.models import ApprovalScope, ToolPolicy

    ToolPolicy.objects.create(tool_name="send_email", scope_eligible=True, scope_max_calls=3)
    console: list[str] = []
    request = parked_mail(user)
    page = open_page(new_context, approver, request, console)
    page.get_by_role("button", name="Approve and allow for this conversation").click()
    expect(page.locator(".messagelist")).to_contain_text(f"send_email #{request.pk} approved",
                                                         ignore_case=True)
    scope = ApprovalScope.objects.get(approval=request)
    assert scope.conversation_id == request.conversation_id
    assert (scope.max_calls, scope.granted_by) == (3, approver)
    page.goto(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    expect(page.locator(".toolgate-approval")).to_contain_text(
        f"Allowed for this conversation: scope #{scope.pk}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_decision_page(new_context, user, approver, scheme, tmp_path_factory):
    from approvals.models import ToolPolicy

    ToolPolicy.objects.create(tool_name="send_email", scope_eligible=True)
    context = new_context(approver)
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(f"/admin/approvals/approvalrequest/{parked_mail(user).pk}/change/")
    page.get_by_label("subject *").fill("")
    expect(page.locator("#toolgate-field-subject-error")).to_be_visible()
    path = tmp_path_factory.getbasetemp() / f"decision-page-{scheme}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
