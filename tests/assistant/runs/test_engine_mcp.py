"""The engine with MCP tools: progress reaches the tool card, a server that is down is a
note to the model rather than a failed run (assistant.runs.engine with tools.mcp)."""

from __future__ import annotations

import asyncio

import pytest

from assistant.models import Run
from assistant.runs.engine import Engine
from tests.assistant.runs.engine_helpers import Recorder, new_conversation, use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls
from tests.tools.mcp.conftest import FAST, connect, toy_spec
from tools.mcp.manager import Manager
from tools.mcp.source import McpSource
from tools.mcp.spec import ServerSpec
from tools.pipeline import Pipeline
from tools.registry import Registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


@pytest.fixture
def manager(settings, tmp_path):
    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    made = Manager(Registry(), tuning=FAST)
    yield made
    made.close()


async def test_progress_of_an_mcp_call_is_sent_as_tool_progress_events(fake, user, manager):
    await connect(manager, toy_spec())
    fake.script_openai(tool_calls(call("toy__slow", {"seconds": 1.2}, id="call_slow")), text("done"))
    events = Recorder()
    run = await Engine(pipeline=Pipeline(manager.registry), emit=events).send(
        await new_conversation(user), user, "be slow")
    assert run.status == Run.Status.COMPLETED
    progress = events.of("tool.progress")
    assert progress and all(e["tool_call"]["id"] == "call_slow" for e in progress)
    assert progress[-1]["tool_call"]["progress"] == 10 and progress[-1]["tool_call"]["total"] == 10
    assert len(progress) <= 10  # throttled, and never more than the server sent
    types = events.types()
    assert types.index("tool.call") < types.index("tool.progress") < types.index("tool.result")


async def test_a_server_that_is_down_is_a_note_to_the_model_not_a_failed_run(fake, user, settings, tmp_path):
    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    settings.TOOLS_MCP_CONNECT_WAIT = 5
    registry = Registry()
    gone = ServerSpec(name="gone", transport="stdio", command="/nonexistent/server")
    source = McpSource(registry, load=lambda: [gone], persist=False, tuning=FAST)
    registry.add_source(source)
    try:
        fake.script_openai(text("The gone tools are unavailable right now."))
        run = await Engine(pipeline=Pipeline(registry)).send(await new_conversation(user), user, "use gone")
        assert run.status == Run.Status.COMPLETED
        body = fake.bodies()[0]
        system = body["messages"][0]
        assert system["role"] in ("system", "developer")
        assert "MCP server 'gone' are unavailable right now" in str(system["content"])
        assert not [t for t in body.get("tools", []) if t["function"]["name"].startswith("gone__")]
    finally:
        await asyncio.to_thread(source.manager.close)


async def test_a_model_calling_a_tool_of_a_server_that_is_down_gets_told_why(user, settings, tmp_path):
    from tools.context import ToolContext
    from tools.pipeline import ToolCallRequest

    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    settings.TOOLS_MCP_CONNECT_WAIT = 5
    registry = Registry()
    source = McpSource(registry, load=lambda: [ServerSpec(name="gone", transport="stdio", command="/nope")],
                       persist=False, tuning=FAST)
    registry.add_source(source)
    try:
        result = await Pipeline(registry).call(ToolCallRequest("gone__anything", "{}", "c1"),
                                               ToolContext(user=user))
        assert result.error.type == "unknown_tool"
        assert "gone__anything is unavailable right now: the MCP server 'gone' is not connected" in (
            result.error.message)
    finally:
        await asyncio.to_thread(source.manager.close)
