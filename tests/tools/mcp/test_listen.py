"""2026-07-28 sessions (``TOOLS_MCP_PROTOCOL=auto``): tool-list changes arrive on a
``subscriptions/listen`` stream (tools.mcp.connection), against the real toy server."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.tools.mcp.conftest import FAST, connect, eventually, toy_spec
from tools.context import ToolContext
from tools.mcp.connection import MODERN, is_modern
from tools.mcp.manager import Manager
from tools.registry import Registry

AUTO = dataclasses.replace(FAST, protocol="auto")


@pytest.fixture
def modern_manager(clean_workdirs):
    made = Manager(Registry(), tuning=AUTO)
    yield made
    made.close()


async def test_a_modern_session_follows_tool_list_changes_on_the_listen_stream(modern_manager):
    await connect(modern_manager, toy_spec())
    connection = modern_manager.connections["toy"]
    assert connection.client is not None and is_modern(connection.client)
    assert connection.client.session.protocol_version == MODERN
    await eventually(lambda: connection.listening, within=30)
    assert "toy__late" not in modern_manager.registry

    await modern_manager.call("toy", "add_tool", {}, ToolContext())  # the toy publishes on its listen bus

    await eventually(lambda: "toy__late" in modern_manager.registry, within=30)
    assert await modern_manager.call("toy", "late", {}, ToolContext()) == "late tool ran"


async def test_a_modern_server_without_listen_still_serves_its_tools_and_is_not_pinged(clean_workdirs):
    manager = Manager(Registry(), tuning=dataclasses.replace(AUTO, ping_interval=0.2))
    try:
        await connect(manager, toy_spec("quiet", "--no-listen"))
        connection = manager.connections["quiet"]
        session = connection.client
        assert session is not None and is_modern(session)
        assert connection.status.state == "connected" and not connection.listening
        # No ping on 2026-07-28 (the method is gone; sending one would fail and reconnect):
        # the same session is still up after many ping intervals.
        await asyncio.sleep(1.5)
        assert connection.client is session and connection.status.state == "connected"
        assert await manager.call("quiet", "echo", {"text": "hi"}, ToolContext()) == "hi"
    finally:
        await asyncio.to_thread(manager.close)


async def test_the_legacy_setting_keeps_the_handshake_and_its_notifications(manager):
    await connect(manager, toy_spec())
    connection = manager.connections["toy"]
    assert not is_modern(connection.client) and not connection.listening
    await manager.call("toy", "add_tool", {}, ToolContext())
    await eventually(lambda: "toy__late" in manager.registry, within=30)
