"""Two people in two browsers: one chats, the other approves in the admin."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from tests.browser.test_chat_page import conversation_for, open_conversation, send, wait_idle
from tools.models import Note

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture
def approver(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return bob


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_an_approver_decides_in_the_admin_and_the_chat_continues_live(new_context, user, approver, decision):
    note = Note.objects.create(owner=user, text="buy milk")
    chat = open_conversation(new_context(user), conversation_for(user))
    send(chat, f"delete note {note.pk}")
    card = chat.locator(".tool-card").last
    expect(card.locator(".tool-status")).to_have_text("Waiting for approval")
    expect(chat.locator("#composer-input")).to_be_disabled()

    admin = new_context(approver).new_page()
    admin.goto("/admin/approvals/approvalrequest/")
    expect(admin.locator("#toolgate-pending-count")).to_have_text("1")
    expect(admin.locator("#toolgate-queue-live")).to_contain_text("Live")
    request = ApprovalRequest.objects.get(tool_name="delete_note")
    admin.locator(f'a[href$="/approvalrequest/{request.pk}/change/"]').first.click()
    expect(admin.locator(".toolgate-approval")).to_contain_text(f"delete note {note.pk}")  # the context
    if decision == "approve":
        admin.get_by_role("button", name="Approve", exact=True).click()
    else:
        admin.get_by_label("Reason (shown to the user and the model)").fill("keep that note")
        admin.get_by_role("button", name="Deny").click()
    expect(admin.locator(".messagelist")).to_contain_text(re.compile("approved|denied"))

    wait_idle(chat)  # the first browser's chat continued without a reload
    if decision == "approve":
        expect(card.locator(".tool-status")).not_to_have_text("Waiting for approval")
        assert not Note.objects.filter(pk=note.pk).exists()
    else:
        expect(card.locator(".tool-status")).to_have_text("Denied")
        assert Note.objects.filter(pk=note.pk).exists()
    expect(chat.locator(".msg-assistant[data-final]").last).to_be_visible()
    request.refresh_from_db()
    assert request.status == ("approved" if decision == "approve" else "denied")
    assert request.decided_by == approver
