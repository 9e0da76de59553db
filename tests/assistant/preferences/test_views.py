"""Saving preferences: exact errors, nothing saved on a bad request, owner only."""

from __future__ import annotations

import pytest

from assistant.models import Preference

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def test_a_theme_is_saved_for_the_signed_in_user(client, user):
    client.force_login(user)
    response = client.post("/settings/preferences/", {"theme": "dark"}, **JSON)
    assert response.status_code == 200 and response.json() == {"saved": {"theme": "dark"}}
    assert Preference.objects.get(user=user).theme == "dark"
    page = client.get("/")
    assert b'<html lang="en" data-theme="dark">' in page.content


def test_an_unknown_theme_is_refused_and_nothing_is_saved(client, user):
    client.force_login(user)
    response = client.post("/settings/preferences/", {"theme": "<script>"}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "Unknown theme '<script>': use system, light or dark."}
    assert not Preference.objects.exists()
    assert client.post("/settings/preferences/", {}, **JSON).json() == {
        "error": "Nothing to save: send theme or demo_banner."}


def test_without_javascript_the_form_post_returns_to_the_page_but_never_off_site(client, user):
    client.force_login(user)
    back = client.post("/settings/preferences/", {"demo_banner": "dismissed", "next": "/settings/tokens/"})
    assert back.status_code == 302 and back["Location"] == "/settings/tokens/"
    away = client.post("/settings/preferences/", {"theme": "light", "next": "https://evil.example/"})
    assert away["Location"] == "/"
    assert Preference.objects.get(user=user).demo_banner_dismissed


def test_anonymous_visitors_cannot_save_anything(client):
    response = client.post("/settings/preferences/", {"theme": "dark"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Preference.objects.exists()
