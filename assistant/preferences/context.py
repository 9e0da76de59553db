"""The template context every page needs for the user's choices (a context processor)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from assistant.models import Preference


def preferences(request: HttpRequest) -> dict[str, Any]:
    """Looked up only when a template reads it: pages that never show it (the CSRF failure
    page, rendered by the API's async CSRF check on the event loop) must not query. The
    locale middleware may have looked it up already (``request.toolgate_preference``)."""
    user = getattr(request, "user", None)

    def lookup() -> Preference:
        found = getattr(request, "toolgate_preference", None)
        return found if found is not None else Preference.of(user)

    return {"preference": SimpleLazyObject(lookup),
            "theme_choices": Preference.Theme.choices,
            "language_choices": settings.LANGUAGES}
