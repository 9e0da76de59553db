"""``POST /c/<uuid>/profile/``: the model for the next answers; a form post or the page's script.

Works without JavaScript (a form post, back to the conversation with a flash message); the
composer's model menu posts with ``fetch`` and ``Accept: application/json`` and gets JSON.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from assistant.models import Conversation
from assistant.transcript.switch import SwitchRefused, switch_profile


@login_required
@require_POST
def switch_view(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.owned_by(request.user), pk=conversation_id)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        switched = switch_profile(conversation, request.POST.get("profile", ""))
    except SwitchRefused as exc:
        if wants_json:
            return JsonResponse({"error": str(exc), "profiles": exc.choices}, status=400)
        messages.error(request, _("Model not changed: %(reason)s") % {"reason": exc})
        return redirect("conversation", conversation_id=conversation.pk)
    label = switched.profile.label or switched.profile.name
    if wants_json:
        return JsonResponse({"profile": {"name": switched.profile.name, "label": label},
                             "changed": switched.changed})
    messages.success(request, _("The next answers come from %(label)s.") % {"label": label})
    return redirect("conversation", conversation_id=conversation.pk)
