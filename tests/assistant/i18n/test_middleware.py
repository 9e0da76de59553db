"""Pages in the user's language: the saved choice, else the browser's, else English."""

from __future__ import annotations

import pytest

from assistant.models import Preference

pytestmark = pytest.mark.django_db
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}


def test_english_is_the_default_without_accept_language(client, user):
    client.force_login(user)
    page = client.get("/settings/tokens/")
    assert b'<html lang="en">' in page.content
    assert b"<h1 id=\"tokens-title\">API tokens</h1>" in page.content
    assert page["Content-Language"] == "en"


def test_the_browser_language_is_used_when_the_user_chose_none(client, user):
    client.force_login(user)
    page = client.get("/settings/tokens/", **GERMAN)
    html = page.content.decode()
    assert '<html lang="de">' in html
    assert '<h1 id="tokens-title">API-Tokens</h1>' in html
    assert ">Token erstellen</button>" in html
    assert page["Content-Language"] == "de"
    assert "Accept-Language" in page["Vary"]


def test_the_saved_language_wins_over_the_browser(client, user):
    Preference.objects.create(user=user, language="en")
    client.force_login(user)
    html = client.get("/settings/tokens/", **GERMAN).content.decode()
    assert '<html lang="en">' in html and '<h1 id="tokens-title">API tokens</h1>' in html

    Preference.objects.filter(user=user).update(language="de")
    html = client.get("/settings/tokens/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="de">' in html and '<h1 id="tokens-title">API-Tokens</h1>' in html


def test_a_saved_language_no_longer_offered_falls_back_to_the_browser(client, user):
    Preference.objects.create(user=user, language="fr")
    client.force_login(user)
    html = client.get("/settings/tokens/", **GERMAN).content.decode()
    assert '<html lang="de">' in html


def test_the_sign_in_page_follows_the_browser(client):
    html = client.get("/accounts/login/", **GERMAN).content.decode()
    assert '<html lang="de">' in html
    assert '<h1 id="login-title">Anmelden</h1>' in html and ">Passwort</label>" in html


def test_flash_messages_and_form_errors_are_translated(client, user):
    client.force_login(user)
    page = client.post("/settings/tokens/", {"name": "x", "allowed_tools": "ok bad!name"}, **GERMAN)
    assert page.status_code == 400
    assert "Kein Werkzeugname: bad!name." in page.content.decode()
    page = client.post("/settings/tokens/999999/revoke/", follow=True, **GERMAN)
    assert "Kein solches aktives Token." in page.content.decode()


def test_the_script_catalog_follows_the_same_choice(client, user):
    english = client.get("/jsi18n/").content.decode()
    assert "Verbunden" not in english
    german = client.get("/jsi18n/", **GERMAN).content.decode()
    assert '"Connected": "Verbunden"' in german
    assert '"Waiting for approval": "Wartet auf Freigabe"' in german
    Preference.objects.create(user=user, language="en")
    client.force_login(user)
    assert "Verbunden" not in client.get("/jsi18n/", **GERMAN).content.decode()
