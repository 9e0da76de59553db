"""``ApprovalRequest`` (approvals/models/queue.py): where a call came from, in the approver's words."""

from __future__ import annotations

import pytest
from django.utils import translation

from approvals import notifications
from tests.approvals.helpers import parked

pytestmark = pytest.mark.django_db


def source(user, scope):
    return parked(user, scope=scope).source


MCP = {"source": "mcp", "mcp": {"client": {"name": "claude-code", "version": "2.1"}, "token_name": "laptop",
                                "token_prefix": "tg_ab12"}}


def test_an_mcp_call_names_its_client_and_token(user):
    assert source(user, MCP) == "MCP client “claude-code 2.1” with token “laptop” (tg_ab12…)"


def test_an_unnamed_token_and_client_are_called_unnamed_not_quoted_empty(user):
    scope = {"source": "mcp", "mcp": {"client": {}, "token_name": "", "token_prefix": "tg_ab12"}}
    assert source(user, scope) == "an unnamed MCP client with an unnamed token (tg_ab12…)"


def test_a_source_without_a_token_prefix_has_no_empty_parentheses(user):
    scope = {"source": "mcp", "mcp": {"client": {"name": "desktop"}, "token_name": "laptop"}}
    assert source(user, scope) == "MCP client “desktop” with token “laptop”"


def test_chat_api_and_unknown_sources_are_named(user):
    assert source(user, {"conversation": "c1"}) == "chat"
    assert source(user, {"source": "api"}) == "REST API"
    assert source(user, {"source": "manage.py tools call"}) == "manage.py tools call"
    assert source(user, {}) == "unknown"


def test_the_label_is_in_the_approvers_language_and_the_source_stays_english_for_webhooks(user):
    request = parked(user, scope=MCP)
    unnamed = parked(user, scope={"source": "mcp", "mcp": {"token_prefix": "tg_ab12"}})
    unrecorded = parked(user, scope={})
    with translation.override("de"):
        assert request.source_label == "MCP-Client „claude-code 2.1“ mit Token „laptop“ (tg_ab12…)"
        assert unnamed.source_label == "ein MCP-Client ohne Namen mit einem Token ohne Namen (tg_ab12…)"
        assert unrecorded.source_label == "nicht erfasst (keine Unterhaltung)"
        # approvals/notifications.py sends ``source`` in webhooks' JSON: programs read it.
        assert request.source == "MCP client “claude-code 2.1” with token “laptop” (tg_ab12…)"
        assert unrecorded.source == "unknown"
        sent = notifications.event_payload(request, notifications.REQUESTED)
        assert sent["approval"]["source"] == request.source
