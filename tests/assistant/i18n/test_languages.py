"""Choosing a language from a saved choice and an Accept-Language header."""

from __future__ import annotations

import pytest

from assistant.i18n.languages import choose, from_accept_language, header, supported


@pytest.mark.parametrize(("accept", "expected"), [
    ("de-DE,de;q=0.9,en;q=0.8", "de"),
    ("fr-FR,fr;q=0.9,de;q=0.5", "de"),  # French is not offered: the next one asked for
    ("en-GB,de;q=0.5", "en"),
    ("fr, ja", "en"),  # nothing offered that is asked for: the default
    ("", "en"),
    ("*", "en"),
    ("de;q=bogus", "en"),  # a malformed header is ignored, not an error
])
def test_the_best_offered_language_of_the_header_is_chosen(accept, expected):
    assert from_accept_language(accept) == expected


def test_a_saved_language_wins_over_the_browser_and_an_unknown_one_is_ignored():
    assert choose("en", "de-DE,de") == "en"
    assert choose("de", "en-US") == "de"
    assert choose("", "de-DE") == "de"
    assert choose("xx", "de-DE") == "de"  # e.g. a language removed from LANGUAGES since
    assert choose(None, "") == "en"


def test_only_configured_languages_are_supported():
    assert supported("de") == "de"
    assert supported("de-at") == "de"
    assert supported("fr") is None
    assert supported("") is None


def test_the_socket_header_is_read_case_insensitively():
    scope = {"headers": [(b"Accept-Language", b"de-DE"), (b"cookie", b"x=1")]}
    assert header(scope, b"accept-language") == "de-DE"
    assert header({"headers": []}, b"accept-language") == ""
