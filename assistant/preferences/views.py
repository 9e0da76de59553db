"""``POST /settings/preferences/``: save one choice; a form post or the page's script.

Works without JavaScript (a form post, then back to the page it came from); the theme
switch and the banner's Dismiss button post with ``fetch`` and get JSON back.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from assistant.models import Preference


@login_required
@require_POST
def save_preferences(request: HttpRequest) -> HttpResponse:
    changes: dict[str, object] = {}
    theme = request.POST.get("theme")
    if theme is not None:
        if theme not in Preference.Theme.values:
            refused = _("Unknown theme %(theme)r: use system, light or dark.") % {"theme": theme[:20]}
            return _answer(request, 400, {"error": refused})
        changes["theme"] = theme
    language = request.POST.get("language")
    if language is not None:  # "" follows the browser's Accept-Language
        codes = [code for code, _name in settings.LANGUAGES]
        if language and language not in codes:
            refused = _("Unknown language %(language)r: use one of %(codes)s, or nothing for the "
                        "browser's language.") % {"language": language[:20], "codes": ", ".join(codes)}
            return _answer(request, 400, {"error": refused})
        changes["language"] = language
    if request.POST.get("demo_banner") == "dismissed":
        changes["demo_banner_dismissed"] = True
    if not changes:
        return _answer(request, 400, {"error": _("Nothing to save: send theme, language or demo_banner.")})
    Preference.objects.update_or_create(user=request.user, defaults=changes)
    return _answer(request, 200, {"saved": changes})


def _answer(request: HttpRequest, status: int, body: dict[str, object]) -> HttpResponse:
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(body, status=status)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    return redirect(target)
