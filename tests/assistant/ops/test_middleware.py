"""Request ids: kept from the client when sane, else new; echoed; carried by the request's logs."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.django_db


def test_an_incoming_request_id_is_kept_echoed_and_in_the_request_logs(client, json_logs):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="edge-7f3a.42")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-7f3a.42"
    [line] = [entry for entry in json_logs.of("django.request") if entry["message"].startswith("Not Found")]
    assert line["request_id"] == "edge-7f3a.42" and line["level"] == "WARNING"


def test_a_request_without_an_id_gets_a_new_uuid(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert uuid.UUID(response["X-Request-ID"]).version == 4


@pytest.mark.parametrize("given", [
    "has spaces in it", "x" * 129, 'quote"injection', "-starts-with-a-dash", "line\\nbreak", "é-accent",
])
def test_an_unacceptable_request_id_is_replaced_not_trusted(client, given):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] != given
    assert uuid.UUID(response["X-Request-ID"]).version == 4


def test_each_request_gets_its_own_id(client):
    first = client.get("/accounts/login/")["X-Request-ID"]
    second = client.get("/accounts/login/")["X-Request-ID"]
    assert first != second


async def test_requests_served_over_asgi_carry_their_id_too(async_client, json_logs):
    response = await async_client.get("/no-such-page/", headers={"X-Request-ID": "asgi-req-1"})
    assert response.status_code == 404 and response["X-Request-ID"] == "asgi-req-1"
    lines = [entry for entry in json_logs.of("django.request") if entry["message"].startswith("Not Found")]
    assert [line["request_id"] for line in lines] == ["asgi-req-1"]


def test_ids_do_not_outlive_their_request(client, json_logs):
    import logging

    from assistant.ops.logging import current_context

    client.get("/no-such-page/", HTTP_X_REQUEST_ID="short-lived")
    assert current_context() == {}
    logging.getLogger("tests.ops").warning("after the request")
    [line] = json_logs.with_message("after the request")
    assert "request_id" not in line


def test_a_logged_request_is_written_as_method_and_path_without_its_query(client, json_logs):
    client.get("/no-such-page/?token=secret-value", HTTP_X_REQUEST_ID="req-q")
    [line] = [entry for entry in json_logs.of("django.request") if entry["message"].startswith("Not Found")]
    assert line["request"] == "GET /no-such-page/" and line["status_code"] == 404
    assert "secret-value" not in json.dumps(line)
