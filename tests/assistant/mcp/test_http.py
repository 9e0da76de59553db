"""``/mcp`` refuses what it must: no or bad tokens, limited tokens, hostile bodies."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import pytest
from django.contrib.auth.models import Group
from mcp.shared.exceptions import MCPError

from approvals.models import ToolPolicy
from assistant.api import tokens
from tests.assistant.mcp.conftest import with_client
from tools.models import ToolCall

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "MCP-Protocol-Version": "2025-11-25"}
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})


def post(url: str, body: str | bytes, secret: str | None = None, **headers: str) -> httpx2.Response:
    auth = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return httpx2.post(f"{url}/mcp", content=body, headers={**HEADERS, **auth, **headers}, timeout=30)


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def names(url: str, secret: str, background: Any) -> set[str]:
    async def use(client: Any) -> Any:
        return await client.list_tools()

    return {t.name for t in background.run(with_client(url, secret, use)).tools}


def refused_call(url: str, secret: str, background: Any, tool: str, arguments: dict[str, Any]) -> MCPError:
    async def use(client: Any) -> Any:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, arguments)
        return refused.value

    return background.run(with_client(url, secret, use))


def test_no_token_is_401_with_www_authenticate(live: Any, transactional_db: Any) -> None:
    response = post(live.url, LIST)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="toolgate"'
    assert response.json()["error"]["message"].startswith("Authentication required")


def test_unknown_and_revoked_tokens_are_401_invalid_token(live: Any, alice: Any) -> None:
    made = tokens.create(alice, "soon revoked")
    assert post(live.url, LIST, made.secret).status_code == 200
    tokens.revoke(alice, made.token.pk)
    for secret in (made.secret, "tg_" + "x" * 43, "not-a-token"):
        response = post(live.url, LIST, secret)
        assert response.status_code == 401, secret
        assert response.json()["error"]["message"] == "The API token is unknown or has been revoked."
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="toolgate", error="invalid_token"'


def test_the_official_client_with_a_revoked_token_cannot_connect(live: Any, alice: Any,
                                                                 background: Any) -> None:
    made = tokens.create(alice, "revoked")
    tokens.revoke(alice, made.token.pk)
    with pytest.raises(BaseException) as failed:
        background.run(with_client(live.url, made.secret, lambda client: client.list_tools()))
    assert "unknown or has been revoked" in " ".join(str(e) for e in leaves(failed.value))


def test_a_read_only_token_sees_and_calls_only_ungated_tools_without_side_effects(
        live: Any, alice: Any, background: Any) -> None:
    secret = tokens.create(alice, "reader", read_only=True).secret
    listed = names(live.url, secret, background)
    assert "calculator" in listed and "search_notes" in listed
    assert not {"delete_note", "create_note", "send_email"} & listed
    error = refused_call(live.url, secret, background, "create_note", {"text": "sneaky"})
    assert error.code == -32602
    assert not ToolCall.objects.filter(tool_name="create_note").exists()


def test_a_token_limited_to_tools_sees_and_calls_only_those(live: Any, alice: Any, background: Any) -> None:
    secret = tokens.create(alice, "calc only", allowed_tools=["calculator"]).secret
    assert names(live.url, secret, background) == {"calculator"}
    assert refused_call(live.url, secret, background, "search_notes", {"query": ""}).code == -32602


def test_a_tool_the_user_may_not_use_is_absent_and_refused_by_name(
        live: Any, secret: str, background: Any) -> None:
    policy = ToolPolicy.objects.create(tool_name="calculator")
    policy.allowed_groups.add(Group.objects.create(name="mathematicians"))
    deadline = time.monotonic() + 30  # each process re-reads the policy within POLICY_TTL
    while "calculator" in names(live.url, secret, background):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    error = refused_call(live.url, secret, background, "calculator", {"expression": "1+1"})
    assert "no tool named 'calculator'" in error.error.message
    assert not ToolCall.objects.filter(tool_name="calculator").exists()
    # The servers outlive this test: wait until they have dropped the policy again, so that
    # the next test does not see this one's restriction.
    policy.delete()
    while "calculator" not in names(live.url, secret, background):
        assert time.monotonic() < deadline + 30
        time.sleep(0.5)


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'"a string"', b"42", b'{"jsonrpc": "2.0"}', b'{"id": 1, "method": "tools/list"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "nope"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}',
    b'{"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list"}',
    b'\xff\xfe\x00garbage',
], ids=["not-json", "empty-batch", "string", "number", "no-method", "no-jsonrpc", "params-not-object",
        "name-not-string", "object-id", "not-utf8"])
def test_malformed_json_rpc_is_a_protocol_error_never_a_server_error(live: Any, secret: str,
                                                                     body: bytes) -> None:
    response = post(live.url, body, secret)
    assert response.status_code < 500, response.text
    text = response.text
    sse = text.startswith(("event:", "data:"))
    payload = json.loads(text.split("data:", 1)[1]) if sse else response.json()
    assert "error" in payload, payload
    assert payload["error"]["code"] in (-32700, -32600, -32601, -32602), payload


def test_an_oversized_request_is_413_with_a_json_rpc_error(live: Any, secret: str) -> None:
    huge = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "calculator", "arguments": {"expression": "1" * 70_000}}})
    response = post(live.url, huge, secret)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600
    assert not ToolCall.objects.exists()


def test_other_methods_and_content_types_are_refused_without_a_server_error(live: Any, secret: str) -> None:
    auth = {"Authorization": f"Bearer {secret}"}
    for method in ("GET", "DELETE", "PUT"):
        response = httpx2.request(method, f"{live.url}/mcp", headers={**HEADERS, **auth}, timeout=30)
        assert response.status_code == 405, (method, response.status_code)
        assert response.headers["Allow"] == "POST"
    wrong_type = post(live.url, LIST, secret, **{"Content-Type": "text/plain"})
    assert 400 <= wrong_type.status_code < 500


@pytest.mark.django_db(transaction=True)
async def test_a_request_closes_a_connection_older_than_conn_max_age_as_django_would() -> None:
    """The endpoint is served beside Django's request cycle, so it does what that cycle does
    (``close_old_connections``) on the thread its ORM calls use: a connection past its
    ``CONN_MAX_AGE`` is replaced, never kept for the life of the process."""
    from asgiref.sync import sync_to_async
    from django.db import connection

    from assistant.mcp import http

    def obsolete() -> Any:
        connection.ensure_connection()
        connection.close_at = time.monotonic() - 1
        return connection.connection

    old = await sync_to_async(obsolete)()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": LIST.encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mcp",
             "headers": [(b"authorization", b"Bearer tg_unknown")]}
    await http.endpoint(scope, receive, send)
    assert sent[0]["status"] == 401  # the token was looked up: the ORM was used
    now = await sync_to_async(lambda: connection.connection)()
    assert now is not old  # a new one, or none at all where CONN_MAX_AGE is 0
    with pytest.raises(Exception, match="closed"):  # the old one was closed, not left open
        await sync_to_async(old.cursor)()
