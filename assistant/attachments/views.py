"""The chat page's attachment endpoints: upload into the conversation, remove again.

``POST /c/<uuid>/attachments/`` (multipart, one or more ``file`` fields) and
``POST /c/<uuid>/attachments/<id>/remove/``. The page's script posts with ``fetch`` and
``Accept: application/json``; without JavaScript the same forms post and come back to the
conversation with a flash message. Thin: parse, authorise by owner, call the service.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from assistant.attachments import service
from assistant.attachments.names import Refused
from assistant.models import Conversation


def _answer(request: HttpRequest, conversation: Conversation, status: int, body: dict[str, Any],
            flash: str) -> HttpResponse:
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(body, status=status)
    (messages.success if status < 400 else messages.error)(request, flash)
    return redirect("conversation", conversation_id=conversation.pk)


@login_required
@require_POST
def upload(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.owned_by(request.user), pk=conversation_id)
    files = request.FILES.getlist("file")
    if not files:
        message = _("Choose a file to attach.")
        return _answer(request, conversation, 400, {"error": {"code": "no_file", "message": message}},
                       message)
    added = []
    for upload_file in files:
        try:
            attachment = service.add(request.user, conversation, upload_file.name or "",
                                     upload_file.chunks(), size=upload_file.size)
        except Refused as exc:
            status = 413 if exc.code == "too_large" else 400
            body = {"error": {"code": exc.code, "message": str(exc)},
                    "attachments": [a.summary() for a in added]}
            flash = _("Not attached: %(reason)s") % {"reason": exc}
            return _answer(request, conversation, status, body, flash)
        added.append(attachment)
    names = ", ".join(a.name for a in added)
    return _answer(request, conversation, 201, {"attachments": [a.summary() for a in added]},
                   _("Attached: %(names)s") % {"names": names})


@login_required
@require_POST
def remove(request: HttpRequest, conversation_id: UUID, attachment_id: UUID) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.owned_by(request.user), pk=conversation_id)
    try:
        attachment = service.remove(request.user, attachment_id)
    except service.NotFound as exc:
        body = {"error": {"code": "not_found", "message": str(exc)}}
        return _answer(request, conversation, 404, body, str(exc))
    return _answer(request, conversation, 200, {"removed": attachment.summary()},
                   _("Removed %(name)s from your workspace.") % {"name": attachment.name})
