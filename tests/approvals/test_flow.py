"""Approve, approve with edits, deny and expire, end to end: a socket chats, the admin decides."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from approvals import dispatch, services
from approvals.models import ApprovalRequest
from assistant.models import Conversation, Run
from tests.approvals.helpers import client_for, events_until, make_approver, open_socket, say
from tools.models import Note, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approver(django_user_model):
    return make_approver(django_user_model)


async def park_delete(user, note_text="buy milk"):
    """Chat in the demo until delete_note (high risk) waits for approval."""
    note = await Note.objects.acreate(owner=user, text=note_text)
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, f"delete note {note.pk}")
    events = await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="delete_note")
    return note, convo, socket, events, request


async def decide_over_http(approver, request, **form):
    client = await sync_to_async(client_for)(approver)
    url = reverse("admin:approvals_approvalrequest_decide", args=[request.pk])
    return await sync_to_async(client.post)(url, form)


async def test_an_approved_call_runs_once_and_the_open_chat_continues(user, approver):
    note, convo, socket, events, request = await park_delete(user)
    assert "approval.requested" in [e["type"] for e in events]
    assert await Note.objects.filter(pk=note.pk).aexists()
    response = await decide_over_http(approver, request, decision="approve")
    assert response.status_code == 302
    after = await events_until(socket, "run.finished")
    types = [e["type"] for e in after]
    assert types.index("approval.decided") < types.index("run.finished")
    decided = next(e for e in after if e["type"] == "approval.decided")
    assert decided["decision"] == "approved" and decided["tool_call"]["status"] == "ok"
    assert after[-1]["run"]["status"] == "completed"
    assert not await Note.objects.filter(pk=note.pk).aexists()
    record = await ToolCall.objects.aget(tool_name="delete_note")
    assert record.status == ToolCall.Status.SUCCEEDED and record.attempts == 1
    await socket.disconnect()


async def test_approving_with_edits_runs_the_edited_arguments_and_keeps_the_originals(user, approver):
    keep, convo, socket, _, request = await park_delete(user, "keep me")
    other = await Note.objects.acreate(owner=user, text="delete me instead")
    await decide_over_http(approver, request, decision="approve_edited",
                           edited_arguments=f'{{"note_id": {other.pk}}}')
    await events_until(socket, "run.finished")
    assert await Note.objects.filter(pk=keep.pk).aexists()
    assert not await Note.objects.filter(pk=other.pk).aexists()
    await request.arefresh_from_db()
    assert request.arguments == {"note_id": keep.pk}
    assert request.edited_arguments == {"note_id": other.pk}
    await socket.disconnect()


async def test_the_answer_after_an_edited_approval_names_the_recipient_the_email_went_to(user, approver):
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await say(socket, "email sam@example.com saying lunch moved to noon")
    await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="send_email")
    edited = {**request.arguments, "to": ["kim@example.com"]}
    await decide_over_http(approver, request, decision="approve_edited", edited_arguments=json.dumps(edited))
    after = await events_until(socket, "run.finished")
    assert [m.to for m in mail.outbox] == [["kim@example.com"]]
    [answer] = [e for e in after if e["type"] == "assistant.message"]
    assert answer["message"]["content"] == "Sent the email to kim@example.com."
    assert after[-1]["run"]["status"] == "completed"
    await socket.disconnect()


async def test_edited_arguments_that_break_the_schema_are_refused(user, approver):
    note, convo, socket, _, request = await park_delete(user)
    await decide_over_http(approver, request, decision="approve_edited", edited_arguments='{"note_id": "x"}')
    await request.arefresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    with pytest.raises(services.DecisionError, match="not valid for delete_note: note_id"):
        await sync_to_async(services.decide)(request.pk, approver, "approve",
                                             edited_arguments={"note_id": "x"})
    await socket.disconnect()


async def test_a_denied_call_never_executes_and_the_model_hears_why(user, approver):
    note, convo, socket, _, request = await park_delete(user)
    await decide_over_http(approver, request, decision="deny", reason="keep your notes")
    after = await events_until(socket, "run.finished")
    decided = next(e for e in after if e["type"] == "approval.decided")
    assert decided["decision"] == "denied" and decided["reason"] == "keep your notes"
    assert decided["tool_call"]["error"]["type"] == "denied"
    assert await Note.objects.filter(pk=note.pk).aexists()
    assert after[-1]["run"]["status"] == "completed"
    await socket.disconnect()


async def test_an_expired_request_continues_the_run_with_a_denied_result(user):
    note, convo, socket, _, request = await park_delete(user)
    await ApprovalRequest.objects.filter(pk=request.pk).aupdate(expires_at=timezone.now())
    assert await sync_to_async(services.expire_stale)() == 1
    after = await events_until(socket, "run.finished")
    decided = next(e for e in after if e["type"] == "approval.decided")
    assert decided["decision"] == "expired"
    assert "expired" in decided["tool_call"]["error"]["message"]
    assert await Note.objects.filter(pk=note.pk).aexists()
    await socket.disconnect()


async def test_a_decision_is_final_even_when_two_approvers_race(user, approver, django_user_model):
    second = await sync_to_async(make_approver)(django_user_model, "carol")
    note, convo, socket, _, request = await park_delete(user)

    def attempt(who):
        try:
            services.decide(request.pk, who, "approve")
        except services.DecisionError as exc:
            return str(exc)
        return "ok"

    outcomes = await asyncio.gather(asyncio.to_thread(attempt, approver), asyncio.to_thread(attempt, second))
    assert sorted(o == "ok" for o in outcomes) == [False, True]
    refused = next(o for o in outcomes if o != "ok")
    assert "already approved by" in refused and "decisions are final" in refused
    await events_until(socket, "run.finished")
    assert await ToolCall.objects.filter(tool_name="delete_note", status="succeeded").acount() == 1
    with pytest.raises(services.DecisionError, match="already approved"):
        await sync_to_async(services.decide)(request.pk, approver, "deny", reason="too late")
    await socket.disconnect()


async def test_nobody_may_decide_their_own_request(user, django_user_model, settings):
    from django.contrib.auth.models import Permission

    perm = await Permission.objects.aget(codename="decide")
    await sync_to_async(user.user_permissions.add)(perm)
    me = await django_user_model.objects.aget(pk=user.pk)
    note, convo, socket, _, request = await park_delete(me)
    with pytest.raises(services.DecisionError, match="cannot decide your own request"):
        await sync_to_async(services.decide)(request.pk, me, "approve")
    settings.APPROVALS_ALLOW_SELF_APPROVAL = True
    await sync_to_async(services.decide)(request.pk, me, "approve")
    await events_until(socket, "run.finished")
    await socket.disconnect()


async def test_a_restart_while_waiting_resumes_from_the_database_alone(user, approver):
    note, convo, socket, _, request = await park_delete(user)
    await socket.disconnect()
    # "restart": nothing in memory survives; only the ids in the database remain.
    await sync_to_async(services.decide)(request.pk, approver, "approve")
    await dispatch.wait_idle()
    run = await Run.objects.aget(conversation=convo)
    assert run.status == Run.Status.COMPLETED
    assert not await Note.objects.filter(pk=note.pk).aexists()


async def test_a_killed_worker_neither_runs_the_tool_twice_nor_leaves_the_run_stuck(user, approver):
    note, convo, socket, _, request = await park_delete(user)
    # The worker claimed the call and died: the record says running, the approval approved.
    await ApprovalRequest.objects.filter(pk=request.pk).aupdate(status="approved", decided_at=timezone.now())
    await ToolCall.objects.filter(pk=request.tool_call_id).aupdate(status="running")
    await services.carry_out(request.pk)  # late acknowledgement delivers the task again
    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.FAILED
    assert "was not run again" in record.error["message"]
    assert await Note.objects.filter(pk=note.pk).aexists()  # never ran
    after = await events_until(socket, "run.finished")
    assert after[-1]["run"]["status"] == "completed"
    await services.carry_out(request.pk)  # and again: nothing more happens
    assert await Run.objects.filter(conversation=convo, status="completed").acount() == 1
    await socket.disconnect()
