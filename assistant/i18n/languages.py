"""Choosing a language: a saved, supported choice wins; else Accept-Language; else English."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import trans_real


def supported(code: str | None) -> str | None:
    """``code`` if it is one of ``settings.LANGUAGES`` (or a variant of one), else None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def from_accept_language(header: str) -> str:
    """The best supported language an ``Accept-Language`` header asks for, else the default."""
    for code, _quality in trans_real.parse_accept_lang_header(header[:1000]):
        if code == "*":
            break
        found = supported(code)
        if found is not None:
            return found
    return settings.LANGUAGE_CODE


def choose(saved: str | None, accept_language: str) -> str:
    return supported(saved) or from_accept_language(accept_language)


def header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""
