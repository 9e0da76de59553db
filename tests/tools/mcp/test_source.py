"""Configured servers as a registry source (tools.mcp.source): read from the database,
connected on first look, state written back for the admin, changes picked up."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.fakes.mcp_servers import TOY
from tests.tools.mcp.conftest import FAST, eventually
from tools.gate import aavailable_tools
from tools.mcp.source import McpSource
from tools.models import McpServer
from tools.registry import Registry
from tools.registry import registry as global_registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source(settings, tmp_path):
    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    settings.TOOLS_MCP_RELOAD_SECONDS = 0
    registry = Registry()
    made = McpSource(registry, tuning=FAST)
    registry.add_source(made)
    yield made
    made.manager.close()


async def test_servers_in_the_database_are_connected_on_the_first_look_and_their_state_recorded(source, user):
    await McpServer.objects.acreate(name="toy", command=sys.executable, args=[TOY])
    offered = {t.name for t in await aavailable_tools(user, source.registry)}
    assert "toy__echo" in offered
    row = await eventually(lambda: McpServer.objects.filter(name="toy", state="connected").first())
    registered = [t.name for t in source.registry if t.name.startswith("toy__")]
    assert row.tool_count == len(registered)  # the server's tools that loaded, as the admin shows them
    assert row.last_contact is not None
    assert {"tool": "echo", "name": "toy__echo", "risk": "low"} in row.catalog


async def test_disabling_a_server_takes_its_tools_away_at_the_next_look(source, user):
    server = await McpServer.objects.acreate(name="toy", command=sys.executable, args=[TOY])
    await source.registry.aready()
    assert "toy__echo" in source.registry
    server.enabled = False
    await server.asave()
    await source.registry.aready()
    assert "toy__echo" not in source.registry


async def test_a_misconfigured_row_is_skipped_and_the_others_load(source, user):
    await McpServer.objects.acreate(name="bad", transport="http", url="not a url")
    await McpServer.objects.acreate(name="toy", command=sys.executable, args=[TOY])
    await source.registry.aready()
    assert "toy__echo" in source.registry and "bad" not in source.manager.connections


async def test_the_global_registry_has_the_mcp_source_and_a_saved_change_invalidates_it():
    from tools.tool_definitions import mcp_source

    assert mcp_source in global_registry._sources
    mcp_source._loaded_at = 12345.0
    await McpServer.objects.acreate(name="x", command="run")
    assert mcp_source._loaded_at == 0.0
    await asyncio.to_thread(mcp_source.manager.close)
