"""``POST /api/v1/extract`` and ``GET /api/v1/extract/schemas``: tokens, schemas, budgets, outcomes."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistant.api import tokens
from assistant.extraction.models import Extraction
from assistant.models import UserBudget
from assistant.ops import budgets
from tests.api.conftest import bearer
from tests.assistant.extraction.support import use_extraction_profiles
from tests.fakes.scripts import refusal, text

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/extract"
ORDER_TEXT = "customer: Alice Smith\nitems: 2 x blue widget, 1 x gadget\ndelivery date: 2025-03-14"
BOOK = {"type": "object", "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
        "required": ["title", "pages"], "additionalProperties": False}


async def post(client, body: dict):
    return await client.post(URL, json.dumps(body), content_type="application/json")


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


async def test_a_registered_schema_by_name_gives_the_validated_data(api, user):
    response = await post(api, {"text": ORDER_TEXT, "schema_name": "order", "profile": "demo"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == {"customer": "Alice Smith", "delivery_date": "2025-03-14", "items": [
        {"product": "blue widget", "quantity": 2}, {"product": "gadget", "quantity": 1}]}
    assert body["schema_used"]["name"] == "order" and body["schema_used"]["registered"] is True
    assert (body["status"], body["mode"], body["attempts"]) == ("succeeded", "json_schema_strict", 1)
    assert body["profile"] == "demo"
    assert "not a language model" in body["notice"]
    record = await Extraction.objects.aget(pk=body["id"])
    assert record.user_id == user.pk and record.source == "api"
    assert body["usage"]["output_tokens"] == record.output_tokens > 0


async def test_an_inline_schema_is_used_and_recorded_with_its_hash(api):
    response = await post(api, {"text": "title: Dune\npages: 412", "inline_schema": BOOK, "name": "book",
                                "profile": "demo"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == {"title": "Dune", "pages": 412}
    assert body["schema_used"] == {"name": "book", "hash": body["schema_used"]["hash"], "registered": False}
    record = await Extraction.objects.aget(pk=body["id"])
    assert record.schema == BOOK and record.schema_hash == body["schema_used"]["hash"]


async def test_a_real_model_is_asked_through_the_sdk(api, fake_llm, settings, monkeypatch):
    use_extraction_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(text('{"title": "Dune", "pages": 412}').with_usage(30, 7))
    response = await post(api, {"text": "Dune has 412 pages", "inline_schema": BOOK,
                                "profile": "fake-openai"})
    assert response.status_code == 200, response.content
    assert response.json()["usage"] == {"input_tokens": 30, "output_tokens": 7}
    assert response.json()["notice"] is None
    assert fake_llm.last_body["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"inline_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}}, "invalid_schema",
     "The schema cannot be used: not a valid JSON Schema: invalid JSON schema at a: 'type' must be one of "
     'array, boolean, integer, null, number, object, string (or a list of them), got "nope".'),
    ({"inline_schema": {"type": "string"}}, "invalid_schema",
     'The schema cannot be used: the schema\'s top level must be {"type": "object", "properties": {...}}.'),
    ({"schema_name": "invoice"}, "unknown_schema",
     "The schema cannot be used: there is no registered schema named 'invoice' "
     "(registered: contact, order)."),
    ({}, "schema_required",
     "Give exactly one of schema_name (a registered schema) or inline_schema (a JSON Schema)."),
    ({"schema_name": "order", "inline_schema": BOOK}, "schema_required",
     "Give exactly one of schema_name (a registered schema) or inline_schema (a JSON Schema)."),
    ({"schema_name": "order", "profile": "gone"}, "unknown_profile", None),
    ({"inline_schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}},
     "invalid_schema", "The schema cannot be used: a schema sent with the request may not use pattern or "
     "patternProperties (regular expressions could stall the server); register it by name instead."),
])
async def test_a_bad_schema_or_profile_is_a_422_with_a_clear_error_and_nothing_recorded(
        api, body, code, message):
    response = await post(api, {"text": "anything", **body})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    assert not await Extraction.objects.aexists()


async def test_a_text_over_the_limit_is_refused(api, settings):
    settings.EXTRACTION_MAX_TEXT_CHARS = 10
    response = await post(api, {"text": "x" * 11, "schema_name": "order", "profile": "demo"})
    assert response.status_code == 422 and error_of(response)["code"] == "text_too_long"
    assert error_of(response)["details"] == {"limit": 10, "length": 11}


async def test_an_answer_that_never_validates_is_a_422_keeping_the_last_output(api):
    response = await post(api, {"text": "nothing useful", "schema_name": "contact", "profile": "demo",
                                "max_corrections": 1})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "extraction_invalid"
    assert error["message"] == ("The model's answer did not match the schema 'contact' after 2 attempts: "
                                "name is required")
    assert error["details"]["last_output"] == '{"email": null, "phone": null, "company": null}'
    assert error["details"]["errors"] == [{"path": "name", "problem": "is required"}]
    record = await Extraction.objects.aget(pk=error["details"]["extraction_id"])
    assert (record.status, record.attempts) == ("invalid", 2)


async def test_a_refusal_is_a_422_extraction_refused(api, fake_llm, settings, monkeypatch):
    use_extraction_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(refusal("I won't do that."))
    response = await post(api, {"text": "x", "inline_schema": BOOK, "profile": "fake-openai"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "extraction_refused" and error["details"]["refusal"] == "I won't do that."


async def test_usage_counts_against_the_daily_budget_and_an_exhausted_one_is_429(api, user):
    await UserBudget.objects.acreate(user=user, daily_tokens=5)
    first = await post(api, {"text": ORDER_TEXT, "schema_name": "order", "profile": "demo"})
    assert first.status_code == 200
    used = await sync_to_async(budgets.used_today)(user)
    assert used == sum(first.json()["usage"].values()) >= 5
    second = await post(api, {"text": ORDER_TEXT, "schema_name": "order", "profile": "demo"})
    assert second.status_code == 429
    error = error_of(second)
    assert error["code"] == "budget_exceeded" and error["details"] == {"used": used, "limit": 5}
    assert await Extraction.objects.acount() == 1


async def test_without_credentials_it_is_401_and_a_read_only_token_is_403(user):
    assert (await post(AsyncClient(), {"text": "x", "schema_name": "order"})).status_code == 401
    reader = bearer((await sync_to_async(tokens.create)(user, "reader", read_only=True)).secret)
    response = await post(reader, {"text": "x", "schema_name": "order"})
    assert response.status_code == 403 and error_of(response)["code"] == "read_only_token"
    assert not await Extraction.objects.aexists()


async def test_the_registered_schemas_are_listed_with_their_json_schema(api):
    response = await api.get(URL + "/schemas")
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert set(items) == {"order", "contact"}
    assert items["contact"]["definition"]["required"] == ["name"]
    assert items["order"]["description"].startswith("An order")


async def test_the_endpoint_is_in_the_openapi_document(api):
    document = (await api.get("/api/openapi.json")).json()
    operation = document["paths"]["/api/v1/extract"]["post"]
    assert {"200", "401", "422", "429", "502"} <= set(operation["responses"])
    assert operation["tags"] == ["extraction"]
