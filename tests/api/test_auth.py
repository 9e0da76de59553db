"""Who may call the API: tokens, read-only tokens, revoked tokens, the browser session."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client
from django.utils import timezone

from assistant.api import tokens
from assistant.models import ApiToken
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)

CALL = "/api/v1/tools/calculator/call"


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


async def test_a_token_authenticates_its_owner(api, user):
    response = await api.get("/api/v1/tool-calls")
    assert response.status_code == 200
    await api.post(CALL, {"expression": "1+1"}, content_type="application/json")
    listed = (await api.get("/api/v1/tool-calls")).json()
    assert listed["total"] == 1 and listed["items"][0]["tool"] == "calculator"
    from tools.models import ToolCall

    assert await ToolCall.objects.filter(user=user, tool_name="calculator").aexists()


async def test_a_missing_credential_is_401_with_the_error_shape():
    response = await AsyncClient().get("/api/v1/tools")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


async def test_an_unknown_token_is_401_invalid_token():
    response = await bearer("tg_" + "x" * 43).get("/api/v1/tools")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


async def test_a_token_of_another_scheme_is_not_accepted():
    response = await bearer("ghp_notours").get("/api/v1/tools")
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_token"


async def test_a_revoked_token_is_401_even_with_a_session(user, secret):
    token = await ApiToken.objects.aget(user=user)
    assert await sync_to_async(tokens.revoke)(user, token.pk)
    client = Client()
    await sync_to_async(client.force_login)(user)
    response = await sync_to_async(client.get)("/api/v1/tools", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


async def test_a_read_only_token_may_read_but_not_post(user):
    made = await sync_to_async(tokens.create)(user, "reader", read_only=True)
    client = bearer(made.secret)
    assert (await client.get("/api/v1/tools")).status_code == 200
    response = await client.post(CALL, {"expression": "1+1"}, content_type="application/json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "read_only_token"
    from tools.models import ToolCall

    assert not await ToolCall.objects.aexists()  # refused before anything ran


async def test_an_inactive_users_token_no_longer_works(user, secret):
    user.is_active = False
    await user.asave()
    response = await bearer(secret).get("/api/v1/tools")
    assert response.status_code == 401


async def test_using_a_token_records_when_it_was_last_used(api, user):
    token = await ApiToken.objects.aget(user=user)
    assert token.last_used_at is None
    await api.get("/api/v1/tools")
    token = await ApiToken.objects.aget(user=user)
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_the_session_works_for_reading(user):
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/tools")
    assert response.status_code == 200
    assert "calculator" in [t["name"] for t in response.json()["items"]]


def test_a_session_post_without_the_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(CALL, {"expression": "1+1"}, content_type="application/json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"


def test_a_session_post_with_the_csrf_token_is_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/settings/tokens/")  # any page with a form sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(CALL, json.dumps({"expression": "2*3"}), content_type="application/json",
                           headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    assert response.json()["result"]["result"] == 6


def test_a_token_needs_no_csrf_token(user):
    secret = tokens.create(user, "script").secret
    client = Client(enforce_csrf_checks=True)
    response = client.post(CALL, {"expression": "2*3"}, content_type="application/json",
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


async def test_an_mcp_only_token_is_refused_on_the_rest_api(user):
    made = await sync_to_async(tokens.create)(user, "agent", mcp_only=True)
    response = await bearer(made.secret).get("/api/v1/tools")
    assert response.status_code == 403
    assert error_of(response)["code"] == "mcp_only_token"
    assert "/mcp" in error_of(response)["message"]
