"""Each MCP session is recorded with its own client, on a stateless endpoint (``sessions``)."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from assistant.api import tokens
from assistant.mcp import sessions
from tests.assistant.mcp.conftest import with_client
from tools.models import ToolCall


def test_two_clients_sharing_a_token_are_each_audited_under_their_own_name(
        mcp_servers: list[Any], secret: str, background: Any) -> None:
    async def both() -> None:
        async def first(a: Any) -> None:
            async def second(b: Any) -> None:
                await b.call_tool("calculator", {"expression": "2+2"})

            # b's initialize comes after a's: a's next call must still be a's
            await with_client(mcp_servers[1].url, secret, second, name="agent-b", version="2")
            await a.call_tool("calculator", {"expression": "1+1"})

        await with_client(mcp_servers[0].url, secret, first, name="agent-a", version="1")

    background.run(both())
    recorded = {r.scope["mcp"]["client"]["name"]: r.scope["mcp"] for r in ToolCall.objects.all()}
    assert recorded["agent-a"]["client"] == {"name": "agent-a", "version": "1"}
    assert recorded["agent-b"]["client"] == {"name": "agent-b", "version": "2"}
    assert recorded["agent-a"]["session"] and recorded["agent-b"]["session"]
    assert recorded["agent-a"]["session"] != recorded["agent-b"]["session"]


def _call(url: str, secret: str, session: str) -> httpx2.Response:
    return httpx2.post(f"{url}/mcp", timeout=30, content=json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "calculator", "arguments": {"expression": "1+1"}}}), headers={
        "Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json", "MCP-Protocol-Version": "2025-11-25", "Mcp-Session-Id": session})


def test_a_session_id_of_another_token_or_altered_is_not_found_and_nothing_runs(
        live: Any, secret: str, alice: Any) -> None:
    other = tokens.create(alice, "other")
    theirs = sessions.mint(other.token.pk, "their-agent", "9")
    for forged in (theirs, theirs[:-2] + ("AA" if not theirs.endswith("AA") else "BB"), "made-up"):
        response = _call(live.url, secret, forged)
        assert response.status_code == 404
        assert response.json()["error"]["message"].startswith("Session not found")
    assert not ToolCall.objects.exists()


def test_a_session_id_is_honoured_by_any_process(mcp_servers: list[Any], secret: str, alice: Any) -> None:
    token = tokens.authenticate(secret)
    minted = sessions.mint(token.pk, "roaming-agent", "3")
    for server in mcp_servers:
        assert _call(server.url, secret, minted).status_code == 200
    names = {r.scope["mcp"]["client"]["name"] for r in ToolCall.objects.all()}
    assert names == {"roaming-agent"} and ToolCall.objects.count() == 2
