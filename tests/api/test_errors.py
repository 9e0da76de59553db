"""One JSON error shape for every failure under /api/, and the published schema and docs."""

from __future__ import annotations

import re
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistant.api import tokens
from assistant.models import Conversation, Run
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


async def test_every_kind_of_error_has_the_same_shape(api, user):
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8)
    reader = bearer((await sync_to_async(tokens.create)(user, "reader", read_only=True)).secret)
    call = "/api/v1/tools/calculator/call"
    cases = [
        (await api.post(call, "{", content_type="application/json"), 400, "invalid_json"),
        (await AsyncClient().get("/api/v1/tools"), 401, "not_authenticated"),
        (await bearer("tg_nope").get("/api/v1/tools"), 401, "invalid_token"),
        (await reader.post(call, {}, content_type="application/json"), 403, "read_only_token"),
        (await api.get(f"/api/v1/conversations/{uuid.uuid4()}"), 404, "not_found"),
        (await api.get("/api/v1/no-such-endpoint"), 404, "not_found"),
        (await api.put("/api/v1/tools"), 405, "method_not_allowed"),
        (await api.post(f"/api/v1/conversations/{convo.pk}/messages", {"content": "hi"},
                        content_type="application/json"), 409, "run_in_progress"),
        (await api.get("/api/v1/tool-calls?limit=9999"), 422, "validation_error"),
        (await api.post(call, {"expression": 1}, content_type="application/json"), 422, "validation_error"),
    ]
    for response, status, code in cases:
        assert_error_shape(response, status, code)


async def test_a_method_the_path_does_not_have_is_405_with_allow(api):
    response = await api.delete("/api/v1/tools/calculator/call")
    assert_error_shape(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


async def test_an_unknown_path_is_json_even_in_debug(api, settings):
    settings.DEBUG = True
    response = await api.get("/api/v2/anything")
    error = assert_error_shape(response, 404, "not_found")
    assert "/api/v2/anything" in error["message"]


async def test_ninjas_validation_errors_are_listed_in_details(api):
    response = await api.get("/api/v1/tool-calls?limit=0&offset=-1")
    error = assert_error_shape(response, 422, "validation_error")
    assert {tuple(d["loc"]) for d in error["details"]} == {("query", "limit"), ("query", "offset")}
    assert all(set(d) == {"loc", "message", "type"} for d in error["details"])
    assert "query.limit" in error["message"] or "query.offset" in error["message"]


async def test_a_server_failure_is_a_json_500_even_in_debug(api, settings):
    settings.DEBUG = True
    settings.LLM_PROVIDER = "no-such-provider"  # a broken configuration: profiles cannot be read
    response = await api.post("/api/v1/conversations", {}, content_type="application/json")
    error = assert_error_shape(response, 500, "internal_error")
    assert "no-such-provider" not in error["message"]  # internals stay in the log


async def test_the_openapi_schema_is_published_and_names_every_endpoint():
    response = await AsyncClient().get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {
        "/api/v1/tools", "/api/v1/tools/{name}/schema", "/api/v1/tools/{name}/call",
        "/api/v1/approvals/{approval_id}", "/api/v1/tool-calls", "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/{conversation_id}/messages",
    }
    assert set(schema["components"]["securitySchemes"]) == {"TokenAuth", "SessionAuth"}
    call = schema["paths"]["/api/v1/tools/{name}/call"]["post"]["responses"]
    assert {"200", "202", "401", "403", "404", "422", "429"} <= set(call)
    messages = schema["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]["responses"]
    assert "text/event-stream" in messages["200"]["content"] and "409" in messages


async def test_the_published_message_pattern_refuses_every_nul_and_every_blank_message():
    """Schemathesis generated "…\\u0000…" as valid when the pattern's ``\\S`` still matched NUL."""
    schema = (await AsyncClient().get("/api/openapi.json")).json()
    pattern = re.compile(_resolve(schema, "MessageIn")["properties"]["content"]["pattern"])
    for refused in ("\x00", "a\x00", "\x00a", "a\x00b", "{{\U000ffc00\x00\x8d", "", "  \n\t"):
        assert not pattern.search(refused), repr(refused)
    for accepted in ("hi", " what is 12*7 \n", "\U000ffc00", "ü"):
        assert pattern.search(accepted), repr(accepted)


def _resolve(schema: dict, name: str) -> dict:
    return next(v for k, v in schema["components"]["schemas"].items() if k == name or k.endswith(f".{name}"))


async def test_the_docs_page_is_served_without_a_cdn():
    response = await AsyncClient().get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()


async def test_a_query_parameter_given_twice_is_refused_not_read_as_its_last_value(api):
    response = await api.get("/api/v1/tool-calls?tool=calculator&tool=&limit=5&tool=send_email")
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"] == [{"loc": ["query", "tool"], "type": "repeated",
                                 "message": "given 3 times; it takes one value"}]
    assert error["message"] == "The request is not valid: query.tool: given 3 times; it takes one value."
    assert (await api.get("/api/v1/tool-calls?tool=calculator&limit=5")).status_code == 200


async def test_a_repeated_query_parameter_is_refused_by_async_operations_too(api):
    response = await api.get("/api/v1/conversations?limit=5&limit=500")  # an async view
    assert assert_error_shape(response, 422, "validation_error")["details"][0]["loc"] == ["query", "limit"]
