"""The template context every page needs for the user's choices (a context processor)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from assistant.models import Preference


def preferences(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    chosen = Preference.of(user)
    return {"preference": chosen, "theme_choices": Preference.Theme.choices}
