"""The manager and a server's session: discovery, calls, reconnection (tools.mcp.manager,
tools.mcp.connection), against the real toy server over stdio."""

from __future__ import annotations

import asyncio
import sys

from tests.tools.mcp.conftest import connect, events, eventually, read_events, toy_spec
from tools.context import ToolContext
from tools.mcp.spec import ServerSpec


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


async def test_a_malformed_schema_or_invalid_name_is_refused_with_a_reason_and_the_rest_load(manager):
    await connect(manager, toy_spec())
    catalog = {row["tool"]: row for row in manager.status("toy").catalog}
    assert "toy__bad_schema" not in manager.registry
    assert "invalid JSON schema at x: 'type' must be one of" in catalog["bad_schema"]["refused"]
    assert "not a valid tool name" in catalog["bad name!"]["refused"]
    assert "^[a-zA-Z0-9_-]{1,64}$" in catalog["bad name!"]["refused"]
    assert "toy__echo" in manager.registry and catalog["echo"]["risk"] == "low"
    assert manager.status("toy").tool_count == len(catalog) - 2


async def test_a_name_another_tool_holds_is_refused_and_the_other_tool_is_kept(manager):
    from tools import tool

    @tool(name="toy__echo")
    def impostor(text: str) -> str:
        """A tool already holding the name."""
        return text

    manager.registry.register(impostor)
    await connect(manager, toy_spec())
    assert manager.registry.get("toy__echo") is impostor
    row = next(r for r in manager.status("toy").catalog if r["tool"] == "echo")
    assert "already" in row["refused"]
    assert "toy__plain" in manager.registry


async def test_annotations_give_the_default_risk(manager):
    await connect(manager, toy_spec())
    risk = {name: str(manager.registry.get(f"toy__{name}").risk)
            for name in ("echo", "delete_file", "plain", "idempotent")}
    assert risk == {"echo": "low", "delete_file": "high", "plain": "high", "idempotent": "medium"}


async def test_the_servers_default_risk_set_by_an_administrator_wins_over_hints(manager):
    await connect(manager, toy_spec(default_risk="high"))
    assert str(manager.registry.get("toy__echo").risk) == "high"


async def test_list_changed_makes_the_new_tool_appear(manager):
    await connect(manager, toy_spec())
    assert "toy__late" not in manager.registry
    await manager.call("toy", "add_tool", {}, ToolContext())
    await eventually(lambda: "toy__late" in manager.registry, within=30)
    assert await manager.call("toy", "late", {}, ToolContext()) == "late tool ran"


async def test_a_stdio_server_gets_only_the_variables_named_for_it(manager, monkeypatch):
    monkeypatch.setenv("TOY_API_KEY", "s3cret")
    monkeypatch.setenv("UNRELATED_SECRET", "do-not-leak")
    spec = toy_spec(env_vars=("TOY_API_KEY",))
    await connect(manager, spec)
    result = await manager.call("toy", "environment", {}, ToolContext())
    env = result["structured"]["env"]
    assert env["TOY_API_KEY"] == "s3cret"
    assert "UNRELATED_SECRET" not in env
    assert env["HOME"] == str(spec.workdir)
    # ours (named + base), the SDK's harmless defaults, and Python's locale coercion
    assert set(env) <= {"TOY_API_KEY", "HOME", "PATH", "LANG", "LC_ALL", "TZ", "LOGNAME", "SHELL", "TERM",
                        "USER", "LC_CTYPE"}
    assert oct(spec.workdir.stat().st_mode & 0o777) == "0o700"


async def test_a_server_whose_variable_is_missing_is_not_started_and_says_why(manager, monkeypatch):
    monkeypatch.delenv("TOY_MISSING_KEY", raising=False)
    await connect(manager, toy_spec(env_vars=("TOY_MISSING_KEY",)), wait=10)
    status = manager.status("toy")
    assert status.state == "disconnected" and "TOY_MISSING_KEY" in status.last_error
    assert not [n for n in manager.registry.names() if n.startswith("toy__")]


async def test_an_unreachable_server_offers_no_tools_and_says_why(manager):
    spec = ServerSpec(name="gone", transport="stdio", command="/nonexistent/mcp-server")
    await connect(manager, spec, wait=10)
    status = manager.status("gone")
    assert status.state in ("disconnected", "connecting") and status.last_error
    assert "not found" in status.last_error or "No such file" in status.last_error
    assert manager.unavailable("gone").startswith("the MCP server 'gone' is not connected")
    assert not [n for n in manager.registry.names() if n.startswith("gone__")]


async def test_a_removed_server_takes_its_tools_with_it(manager):
    await connect(manager, toy_spec())
    assert "toy__echo" in manager.registry
    await manager.configure([])
    assert not [n for n in manager.registry.names() if n.startswith("toy__")]


async def test_http_server_gets_headers_from_named_environment_variables(manager, http_toy, monkeypatch):
    url, events_file = http_toy
    monkeypatch.setenv("TOY_TOKEN", "Bearer abc123")
    spec = ServerSpec(name="web", transport="http", url=url, headers=(("Authorization", "TOY_TOKEN"),))
    await connect(manager, spec)
    assert manager.status("web").state == "connected", manager.status("web").last_error
    result = await manager.call("web", "headers", {}, ToolContext())
    assert result["structured"]["headers"]["authorization"] == "Bearer abc123"
    assert await manager.call("web", "echo", {"text": "over http"}, ToolContext()) == "over http"
    assert [e["tool"] for e in read_events(events_file)] == ["headers", "echo"]


async def test_the_reference_time_server_from_pypi_works(manager):
    spec = ServerSpec(name="time", transport="stdio", command=sys.executable,
                      args=("-m", "mcp_server_time", "--local-timezone", "UTC"))
    await connect(manager, spec)
    assert manager.status("time").state == "connected", manager.status("time").last_error
    assert {"time__get_current_time", "time__convert_time"} <= set(manager.registry.names())
    result = await manager.call("time", "get_current_time", {"timezone": "Europe/Oslo"}, ToolContext())
    text = result if isinstance(result, str) else result.get("text", "")
    assert "Europe/Oslo" in text


async def test_a_server_whose_cursor_never_ends_cannot_hang_discovery(manager):
    await connect(manager, toy_spec("loop", "--endless"))
    status = manager.status("loop")
    assert status.state == "connected"
    assert {"loop__echo", "loop__delete_file"} <= set(manager.registry.names())
    assert [row["tool"] for row in status.catalog].count("echo") == 2  # listed twice: refused once
    assert any("already taken" in row.get("refused", "") for row in status.catalog)


def _child_calls_echo(conn) -> None:  # runs in a forked child
    async def go():
        manager = MANAGER_FOR_FORK[0]
        await manager.configure([toy_spec("forked")])
        await manager.settled(60)
        return await manager.call("forked", "echo", {"text": "from the child"}, ToolContext())

    try:
        conn.send(("ok", asyncio.run(go()), MANAGER_FOR_FORK[0]._pid))
    except Exception as exc:
        conn.send(("error", repr(exc), 0))
    finally:
        MANAGER_FOR_FORK[0].close()


MANAGER_FOR_FORK: list = []


def test_a_forked_process_opens_its_own_sessions(manager):
    import multiprocessing
    import os

    from asgiref.sync import async_to_sync

    async_to_sync(connect)(manager, toy_spec())
    parent_pid = manager._pid
    MANAGER_FOR_FORK[:] = [manager]
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_child_calls_echo, args=(there,))
    child.start()
    assert here.poll(90), "the child did not answer"
    status, value, child_pid = here.recv()
    child.join(30)
    assert status == "ok", value
    assert value == "from the child" and child_pid not in (0, parent_pid, os.getpid())
    assert manager.status("toy").state == "connected"  # the parent's session is untouched
