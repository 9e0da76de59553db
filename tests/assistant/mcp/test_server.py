"""The MCP endpoint through the official client over real HTTP: list, call, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from tests.assistant.mcp.conftest import with_client
from tools.models import ToolCall


def test_list_shows_the_users_tools_with_policy_annotations(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        return await client.list_tools()

    listed = {t.name: t for t in background.run(with_client(live.url, secret, use)).tools}
    assert {"calculator", "search_notes", "delete_note", "create_note"} <= set(listed)
    assert listed["calculator"].annotations.read_only_hint is True
    assert listed["calculator"].input_schema["properties"]["expression"]["type"] == "string"
    # needs approval (high risk): never presented as read-only
    assert listed["delete_note"].annotations.read_only_hint is False
    assert listed["delete_note"].annotations.destructive_hint is True


def test_call_runs_through_the_pipeline_and_is_audited_with_the_client(live: Any, secret: str,
                                                                       background: Any) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("calculator", {"expression": "6*7"})

    result = background.run(with_client(live.url, secret, use))
    assert result.is_error is not True
    assert result.structured_content["result"] == 42
    record = ToolCall.objects.get(tool_name="calculator")
    assert record.status == ToolCall.Status.SUCCEEDED
    assert record.scope["source"] == "mcp"
    assert record.scope["mcp"]["client"] == {"name": "pytest-agent", "version": "1.2.3"}
    assert record.scope["mcp"]["token_prefix"] == secret[:11]
    from approvals.models import AuditEvent

    proposed = AuditEvent.objects.get(tool_call_id=record.pk, kind="call.proposed")
    assert proposed.data["scope"]["mcp"]["client"] == {"name": "pytest-agent", "version": "1.2.3"}
    assert proposed.data["scope"]["mcp"]["token"] == record.scope["mcp"]["token"]


def test_invalid_arguments_are_a_tool_error_and_recorded(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("calculator", {"expression": 7})

    result = background.run(with_client(live.url, secret, use))
    assert result.is_error is True
    assert result.structured_content["error"]["type"] == "validation_error"
    assert ToolCall.objects.get(tool_name="calculator").status == ToolCall.Status.REJECTED


def test_an_unknown_tool_is_refused_by_name(live: Any, secret: str, background: Any) -> None:
    async def use(client: Any) -> Any:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("no_such_tool", {})
        return refused.value

    error = background.run(with_client(live.url, secret, use))
    assert error.code == -32602
    assert "no tool named 'no_such_tool'" in error.error.message


def test_two_clients_on_two_processes_at_once(mcp_servers: list[Any], secret: str, background: Any) -> None:
    """Stateless: any process answers any request, no affinity needed. (On the 2026-07-28
    revision, which ``auto`` negotiates, every request names its client.)"""
    import asyncio

    async def calc(expression: str) -> Any:
        return await client_call(expression)

    async def client_call(expression: str) -> Any:
        url = mcp_servers[len(expression) % 2].url
        return await with_client(url, secret, lambda c: c.call_tool("calculator", {"expression": expression}),
                                 name=f"agent-{len(expression)}", mode="auto")

    async def both() -> Any:
        return await asyncio.gather(calc("1+2"), calc("10*10"))

    first, second = background.run(both())
    assert first.structured_content["result"] == 3 and second.structured_content["result"] == 100
    clients = {r.scope["mcp"]["client"]["name"] for r in ToolCall.objects.filter(tool_name="calculator")}
    assert clients == {"agent-3", "agent-5"}


def test_an_mcp_sourced_tool_is_proxied_through_toolgate_to_a_real_mcp_server(
        live: Any, secret: str, background: Any) -> None:
    import sys
    import time

    from tests.fakes.mcp_servers import TOY
    from tools.mcp import service

    service.add("toy", actor="test", command=[sys.executable, TOY])

    async def use(client: Any) -> Any:
        return await client.list_tools()

    deadline = time.monotonic() + 60  # each process reads the configuration every few seconds
    while True:
        listed = {t.name: t for t in background.run(with_client(live.url, secret, use)).tools}
        if "toy__echo" in listed:
            break
        assert time.monotonic() < deadline, sorted(listed)
        time.sleep(0.5)
    # a destructive tool of the server is gated by Toolgate, hence never shown as read-only
    assert listed["toy__delete_file"].annotations.read_only_hint is False

    async def call(client: Any) -> Any:
        return await client.call_tool("toy__echo", {"text": "through the gate"})

    result = background.run(with_client(live.url, secret, call))
    assert result.is_error is not True
    assert "through the gate" in result.content[0].text
    record = ToolCall.objects.get(tool_name="toy__echo")
    assert record.status == ToolCall.Status.SUCCEEDED and record.scope["source"] == "mcp"


def test_an_administrators_rate_limit_applies_to_mcp_callers(live: Any, secret: str, background: Any) -> None:
    from approvals.models import ToolPolicy

    ToolPolicy.objects.create(tool_name="calculator", rate_limit="1/h")

    async def twice(client: Any) -> Any:
        import asyncio

        await asyncio.sleep(3)  # each process re-reads the policy within POLICY_TTL
        return [await client.call_tool("calculator", {"expression": "1+1"}) for _ in range(2)]

    first, second = background.run(with_client(live.url, secret, twice))
    assert first.is_error is not True
    assert second.is_error is True
    assert second.structured_content["error"]["rule"] == "policy:rate_limit"
