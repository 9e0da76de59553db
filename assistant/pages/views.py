"""The chat pages: thin views that parse, authorise by owner, do one thing and render.

Every lookup goes through ``Conversation.objects.owned_by(request.user)``, so another
user's conversation is simply not found (404), never "forbidden": its existence is not
revealed. Live updates are the WebSocket's job (docs/protocol.md); these pages render the
stored state and hand the page's script what it needs to resume from it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from assistant.attachments.carry import delete_conversation
from assistant.attachments.context import attachment_context
from assistant.models import Conversation, Run
from assistant.pages.forms import NewConversationForm, RenameForm, profile_choices
from assistant.providers.profiles import Profile, default_profile, get_profiles
from assistant.transcript.branches import BranchError, branch, last_user_message
from assistant.transcript.timeline import active_run, build_timeline

SIDEBAR_LIMIT = 50
LIST_LIMIT = 500
AUTO_SEND_KEY = "toolgate.send.{}"  # session: the text a new branch sends once its page connects


def _owned(request: HttpRequest, conversation_id: UUID) -> Conversation:
    return get_object_or_404(Conversation.objects.owned_by(request.user), pk=conversation_id)


def _is_demo(profile: Profile | None) -> bool:
    return profile is not None and profile.provider == "demo"


@login_required
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    return render(request, "assistant/conversation_list.html", {
        "conversations": Conversation.objects.owned_by(request.user)[:LIST_LIMIT],
        "new_form": NewConversationForm(),
        "demo": _is_demo(default_profile()),
    })


@login_required
@require_POST
def conversation_new(request: HttpRequest) -> HttpResponse:
    form = NewConversationForm(request.POST)
    if not form.is_valid():
        return render(request, "assistant/conversation_list.html", {
            "conversations": Conversation.objects.owned_by(request.user)[:LIST_LIMIT],
            "new_form": form,
            "demo": _is_demo(default_profile()),
        }, status=400)
    conversation = Conversation.objects.create(owner=request.user, profile=form.cleaned_data["profile"])
    return redirect("conversation", conversation_id=conversation.pk)


@login_required
@require_GET
def conversation_detail(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    # Read first: the page resumes from this seq, so anything newer than what is rendered
    # below is replayed over the socket (the page's script ignores what it already shows).
    conversation = _owned(request, conversation_id)
    run = active_run(conversation)
    profile = get_profiles().get(conversation.profile)
    client: dict[str, Any] = {
        "conversationId": str(conversation.pk),
        "afterSeq": conversation.last_seq,
        "run": {"id": str(run.pk), "status": run.status} if run is not None else None,
        "maxChars": settings.ASSISTANT_MAX_MESSAGE_CHARS,
        # A branch just made (edit, regenerate, retry) sends its first message from the page.
        "autoSend": request.session.pop(AUTO_SEND_KEY.format(conversation.pk), None),
    }
    last_user = last_user_message(conversation)
    return render(request, "assistant/conversation_detail.html", {
        "conversation": conversation,
        "timeline": build_timeline(conversation),
        "conversations": Conversation.objects.owned_by(request.user)[:SIDEBAR_LIMIT],
        "new_form": NewConversationForm(),
        "profile": profile,
        "profile_choices": profile_choices(),  # issue 14: switch the model mid-conversation
        **attachment_context(request.user, conversation),  # issue 14: attachments
        "demo": _is_demo(profile),
        "run": run,
        "client": client,
        "last_user_id": last_user.pk if last_user is not None else None,
        "branches": conversation.branches.all()[:SIDEBAR_LIMIT],
        "last_failed": conversation.runs.order_by("-created_at").values_list("status", flat=True).first()
        == Run.Status.FAILED,
    })


@login_required
@require_POST
def conversation_rename(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = _owned(request, conversation_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        Conversation.objects.filter(pk=conversation.pk).update(title=form.cleaned_data["title"])
        messages.success(request, _("Conversation renamed."))
    else:
        messages.error(request, _("Not renamed: %(reason)s")
                       % {"reason": " ".join(form.errors.get("title", [_("invalid title.")]))})
    return redirect(_next(request, reverse("conversation", kwargs={"conversation_id": conversation.pk})))


@login_required
@require_POST
def conversation_branch(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    """Edit and resend / regenerate / retry: a new branch that sends the message again."""
    conversation = _owned(request, conversation_id)
    content = request.POST.get("content")
    try:
        made = branch(conversation, request.POST.get("message", ""), content)
    except (BranchError, ValidationError) as exc:
        reason = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, _("Not sent again: %(reason)s") % {"reason": reason})
        return redirect("conversation", conversation_id=conversation.pk)
    request.session[AUTO_SEND_KEY.format(made.conversation.pk)] = made.text
    return redirect("conversation", conversation_id=made.conversation.pk)


@login_required
@require_POST
def conversation_delete(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = _owned(request, conversation_id)
    title = conversation.title
    kept = delete_conversation(request.user, conversation)
    messages.success(request, _("Deleted “%(title)s”.") % {"title": title} if title
                     else _("Deleted the conversation."))
    if kept:  # issue 14: attached files are the user's workspace files and stay there
        messages.info(request, ngettext(
            "Its attached file stays in your workspace (%(folders)s).",
            "Its %(count)d attached files stay in your workspace (%(folders)s).", len(kept))
            % {"count": len(kept),
               "folders": ", ".join(sorted({a.path.rpartition("/")[0] + "/" for a in kept}))})
    return redirect("conversation_list")


def _next(request: HttpRequest, default: str) -> str:
    """Where a form asked to go back to (e.g. the list it was posted from), if it is ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default
