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
        "error": "Nothing to save: send theme, language or demo_banner."}


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


def test_a_language_is_saved_and_empty_goes_back_to_the_browser_language(client, user):
    client.force_login(user)
    response = client.post("/settings/preferences/", {"language": "de"}, **JSON)
    assert response.status_code == 200 and response.json() == {"saved": {"language": "de"}}
    assert Preference.objects.get(user=user).language == "de"
    assert '<html lang="de"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    reset = client.post("/settings/preferences/", {"language": ""}, **JSON)
    assert reset.json() == {"saved": {"language": ""}}
    assert Preference.objects.get(user=user).language == ""
    assert '<html lang="en"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_an_unknown_language_is_refused_in_the_current_language_and_nothing_is_saved(client, user):
    Preference.objects.create(user=user, language="de")
    client.force_login(user)
    response = client.post("/settings/preferences/", {"language": "fr", "theme": "dark"}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "Unbekannte Sprache 'fr': Verwenden Sie eine von en, de oder nichts "
                                        "für die Sprache des Browsers."}
    preference = Preference.objects.get(user=user)
    assert (preference.language, preference.theme) == ("de", "system")


def test_the_language_form_posts_back_to_the_page_it_was_on(client, user):
    client.force_login(user)
    back = client.post("/settings/preferences/", {"language": "de", "next": "/settings/tokens/"})
    assert back.status_code == 302 and back["Location"] == "/settings/tokens/"
    page = client.get("/settings/tokens/").content.decode()
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page
