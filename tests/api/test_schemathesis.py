"""Schemathesis against /api/openapi.json, in process: no server error, no answer the schema denies.

The app is Django's own ASGI handler (what Daphne runs), served on schemathesis' event-loop
thread, so the database is shared through the test database file (``transaction=True``).
Every operation is called with a personal token; schemathesis also calls each without it
(``ignored_auth``) and with methods the path does not have (``unsupported_method``).
Positive cases for the conversation endpoints are pointed at a conversation of the
caller's (with the offline demo profile), so chatting is exercised too, not only 404s.

Each run draws 12 new examples per operation; ``SCHEMATHESIS_MAX_EXAMPLES=500`` soaks the
API for longer (do it on PostgreSQL too: it refuses text SQLite takes).
"""

from __future__ import annotations

import os
import uuid

import pytest
import schemathesis
from django.core.asgi import get_asgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from assistant.api import tokens
from assistant.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)

schema = schemathesis.openapi.from_asgi("/api/openapi.json", get_asgi_application())

KNOWN_CONVERSATION = uuid.UUID("0f0f0f0f-1234-4abc-8def-000000000001")

# Bodies whose validity depends on the running configuration, which a static schema cannot
# state: a tool's arguments follow that tool's own schema (GET /tools/{name}/schema), and a
# profile must be one configured in the environment, and an extraction's schema (inline or a
# registered name) and text decide whether the model's answer can be valid. Well-formed but
# unusable values get a documented 422 there, so "valid data must be accepted" does not apply.
# An imported conversation must also be continuable (every tool call answered by the next
# turn), which a schema cannot state either (issue 14's import); nor can it state that a
# profile must be configured, or that an attachment must be UTF-8 text (issue 14).
BEYOND_THE_SCHEMA = {("POST", "/api/v1/conversations"), ("POST", "/api/v1/tools/{name}/call"),
                     ("POST", "/api/v1/extract"), ("POST", "/api/v1/conversations/import"),
                     ("PUT", "/api/v1/conversations/{conversation_id}/profile"),
                     ("POST", "/api/v1/conversations/{conversation_id}/attachments")}


@pytest.fixture
def token_secret(user, settings):
    settings.TOOLS_HTTP_ALLOWED_HOSTS = []  # whatever is generated, no request leaves the machine
    Conversation.objects.create(pk=KNOWN_CONVERSATION, owner=user, profile="demo")
    return tokens.create(user, "schemathesis").secret


@schema.parametrize()
@hypothesis_settings(max_examples=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12")), deadline=None,
                     suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case, token_secret):
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if positive and "conversation_id" in (case.path_parameters or {}):
        case.path_parameters["conversation_id"] = str(KNOWN_CONVERSATION)
    excluded = [positive_data_acceptance] if (case.method.upper(), case.path) in BEYOND_THE_SCHEMA else []
    # call_and_validate raises on any failed check (a 5xx, a response the schema does not
    # allow, an undocumented status); the explicit assertion states the headline property.
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token_secret}"},
                                      excluded_checks=excluded)
    assert response.status_code < 500
