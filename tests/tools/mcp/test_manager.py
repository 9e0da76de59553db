"""The manager and a server's session: discovery, calls, reconnection (tools.mcp.manager,
tools.mcp.connection), against the real toy server over stdio."""

from __future__ import annotations

import asyncio

from tests.tools.mcp.conftest import connect, events, toy_spec
from tools.context import ToolContext


async def test_discovery_registers_every_page_of_tools(manager):
    spec = toy_spec("toy", "--page-size", "3")
    await connect(manager, spec)
    names = manager.registry.names()
    assert "toy__echo" in names and "toy__add_tool" in names  # first and last page
    assert manager.status("toy").state == "connected"
    assert manager.status("toy").tool_count == len(names)


async def test_a_call_reaches_the_server_and_returns_its_text(manager):
    spec = toy_spec()
    await connect(manager, spec)
    result = await manager.call("toy", "echo", {"text": "hi"}, ToolContext())
    assert result == "hi"
    assert events(spec)[-1] == {**events(spec)[-1], "tool": "echo", "arguments": {"text": "hi"}}


async def test_progress_is_forwarded_to_the_callers_loop(manager):
    await connect(manager, toy_spec())
    seen = []

    async def progress(call_id, done, total, message):
        seen.append((call_id, done, total, message))

    await manager.call("toy", "slow", {"seconds": 0.5}, ToolContext(call_id="c1", progress=progress))
    await asyncio.sleep(0.2)
    assert seen and seen[-1][0] == "c1" and seen[-1][1:3] == (10.0, 10.0)
