"""Django's LocaleMiddleware, except that a signed-in user's saved language wins.

It sits after AuthenticationMiddleware (it reads ``request.user``). The preference it looks
up is kept on the request for the template context (``assistant.preferences.context``), so
a page queries it once.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from assistant.i18n.languages import supported
from assistant.models import Preference


class UserLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        saved = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            preference = Preference.of(user)
            request.toolgate_preference = preference  # type: ignore[attr-defined]
            saved = supported(preference.language)
        translation.activate(saved or translation.get_language_from_request(request))
        request.LANGUAGE_CODE = translation.get_language()  # type: ignore[attr-defined]
