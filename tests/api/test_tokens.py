"""Personal API tokens (assistant/api/tokens.py), their page (/settings/tokens/) and their admin."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client

from assistant.api import tokens
from assistant.models import ApiToken

pytestmark = pytest.mark.django_db

PAGE = "/settings/tokens/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_token_is_stored_only_as_its_sha256(user):
    made = tokens.create(user, "laptop")
    assert made.secret.startswith("tg_") and len(made.secret) >= 40
    stored = ApiToken.objects.get(pk=made.token.pk)
    assert stored.token_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert made.secret not in {str(v) for v in ApiToken.objects.values().get(pk=stored.pk).values()}
    assert stored.prefix == made.secret[:11] and made.secret.startswith(stored.prefix)


def test_authenticate_finds_the_token_by_its_secret_only(user):
    made = tokens.create(user, "laptop")
    assert tokens.authenticate(made.secret).pk == made.token.pk
    assert tokens.authenticate(made.secret[:-1] + ("A" if made.secret[-1] != "A" else "B")) is None
    assert tokens.authenticate(made.token.prefix) is None
    assert tokens.authenticate("") is None


def test_two_tokens_are_never_the_same(user):
    assert tokens.create(user, "a").secret != tokens.create(user, "b").secret


def test_a_user_can_revoke_only_their_own_active_token(user, other_user):
    made = tokens.create(user, "laptop")
    assert not tokens.revoke(other_user, made.token.pk)
    assert tokens.authenticate(made.secret) is not None
    assert tokens.revoke(user, made.token.pk)
    assert tokens.authenticate(made.secret) is None
    assert not tokens.revoke(user, made.token.pk)  # already revoked


def test_the_page_needs_a_signed_in_user():
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_creating_a_token_shows_the_secret_once(user):
    client = logged_in(user)
    response = client.post(PAGE, {"name": "CI script", "read_only": "on"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r'value="(tg_[^"]+)"', response.content.decode())[1]
    token = ApiToken.objects.get(user=user)
    assert token.name == "CI script" and token.read_only
    assert tokens.authenticate(secret).pk == token.pk
    again = client.get(PAGE).content.decode()
    assert secret not in again and token.prefix in again and "CI script" in again


def test_a_token_without_a_name_is_not_created(user):
    response = logged_in(user).post(PAGE, {"name": "  "})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_list_shows_only_the_users_own_tokens(user, other_user):
    tokens.create(other_user, "mallory's secret script")
    tokens.create(user, "alice's laptop")
    page = logged_in(user).get(PAGE).content.decode()
    assert "alice&#x27;s laptop" in page and "mallory" not in page


def test_revoking_from_the_page_stops_the_token(user):
    made = tokens.create(user, "laptop")
    client = logged_in(user)
    response = client.post(f"{PAGE}{made.token.pk}/revoke/")
    assert response.status_code == 302
    assert tokens.authenticate(made.secret) is None
    assert "revoked" in client.get(PAGE).content.decode()


def test_another_users_token_cannot_be_revoked_from_the_page(user, other_user):
    made = tokens.create(other_user, "theirs")
    logged_in(user).post(f"{PAGE}{made.token.pk}/revoke/")
    assert tokens.authenticate(made.secret) is not None


def test_the_admin_lists_tokens_without_their_hash_and_cannot_add_one(user, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    made = tokens.create(user, "laptop")
    client = logged_in(admin)
    listing = client.get("/admin/assistant/apitoken/").content.decode()
    assert "laptop" in listing and made.token.prefix in listing
    detail = client.get(f"/admin/assistant/apitoken/{made.token.pk}/change/").content.decode()
    assert made.token.token_hash not in detail and made.secret not in detail
    assert client.get("/admin/assistant/apitoken/add/").status_code == 403


def test_the_admin_can_revoke_tokens(user, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    made = tokens.create(user, "laptop")
    logged_in(admin).post("/admin/assistant/apitoken/", {
        "action": "revoke", "_selected_action": [made.token.pk]})
    assert tokens.authenticate(made.secret) is None


def test_a_token_can_be_limited_to_mcp_and_to_a_list_of_tools(user):
    response = logged_in(user).post(PAGE, {"name": "Claude Desktop", "mcp_only": "on",
                                           "allowed_tools": "calculator, search_notes calculator"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=user)
    assert token.mcp_only and not token.read_only
    assert token.allowed_tools == ["calculator", "search_notes"]
    assert token.allows_tool("calculator") and not token.allows_tool("delete_note")
    listed = logged_in(user).get(PAGE).content.decode()
    assert "MCP only" in listed and "tools: calculator, search_notes" in listed


def test_a_tool_list_with_an_invalid_name_is_refused_and_nothing_is_created(user):
    response = logged_in(user).post(PAGE, {"name": "x", "allowed_tools": "calculator, rm -rf /"})
    assert response.status_code == 400
    assert "Not a tool name: /" in response.content.decode()
    assert not ApiToken.objects.exists()
