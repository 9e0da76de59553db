"""The pages' export downloads and the JSON import (docs/ui.md); thin: parse, call, answer."""

from __future__ import annotations

import json
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from assistant.models import Conversation
from assistant.transcript.exchange import ExportFileError, export_json, export_markdown, import_conversation

MAX_IMPORT_BYTES = 10 * 1024 * 1024


@login_required
@require_GET
def export(request: HttpRequest, conversation_id: UUID, kind: str) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.owned_by(request.user), pk=conversation_id)
    name = slugify(conversation.title)[:60] or "conversation"
    if kind == "md":
        response = HttpResponse(export_markdown(conversation), content_type="text/markdown; charset=utf-8")
    else:
        response = HttpResponse(json.dumps(export_json(conversation), ensure_ascii=False, indent=2),
                                content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response


@login_required
@require_POST
def import_view(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Not imported: choose a .json file exported from Toolgate."))
        return redirect("conversation_list")
    if upload.size > MAX_IMPORT_BYTES:
        messages.error(request, _("Not imported: the file is %(size)s bytes; the limit is %(limit)s.")
                       % {"size": f"{upload.size:,}", "limit": f"{MAX_IMPORT_BYTES:,}"})
        return redirect("conversation_list")
    try:
        conversation = import_conversation(request.user, upload.read())
    except ExportFileError as exc:
        messages.error(request, _("Not imported: %(reason)s") % {"reason": exc})
        return redirect("conversation_list")
    messages.success(request, _("Conversation imported."))
    return redirect("conversation", conversation_id=conversation.pk)
