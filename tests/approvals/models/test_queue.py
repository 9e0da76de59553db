"""``ApprovalRequest`` (approvals/models/queue.py): where a call came from, in the approver's words."""

from __future__ import annotations

import pytest
from django.utils import translation

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


def test_chat_api_and_unknown_sources_are_named(user):
    assert source(user, {"conversation": "c1"}) == "chat"
    assert source(user, {"source": "api"}) == "REST API"
    assert source(user, {"source": "manage.py tools call"}) == "manage.py tools call"
    assert source(user, {}) == "unknown"


def test_the_source_is_in_the_approvers_language(user):
    request = parked(user, scope=MCP)
    unnamed = parked(user, scope={"source": "mcp", "mcp": {"token_prefix": "tg_ab12"}})
    with translation.override("de"):
        assert request.source == "MCP-Client „claude-code 2.1“ mit Token „laptop“ (tg_ab12…)"
        assert unnamed.source == "ein MCP-Client ohne Namen mit einem Token ohne Namen (tg_ab12…)"
        assert parked(user, scope={}).source == "unbekannt"
