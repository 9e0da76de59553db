"""manage.py mcp (tools/management/commands/mcp.py): configuration as code, audited."""

from __future__ import annotations

import io
import shlex
import sys

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from approvals.models import AuditEvent
from tests.fakes.mcp_servers import TOY
from tools.models import McpServer

pytestmark = pytest.mark.django_db


def mcp(*args: str) -> str:
    out = io.StringIO()
    call_command("mcp", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def workdirs(settings, tmp_path):
    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    settings.TOOLS_MCP_CONNECT_TIMEOUT = 30


def test_add_stores_the_command_and_variable_names_and_audits_it(monkeypatch):
    Group.objects.create(name="ops")
    monkeypatch.setenv("TOY_KEY", "never-stored")
    out = mcp("add", "toy", "--command", shlex.join([sys.executable, TOY, "--page-size", "4"]),
              "--env", "TOY_KEY", "--group", "ops", "--risk", "high", "--timeout", "12")
    assert "added toy (stdio)" in out
    server = McpServer.objects.get(name="toy")
    assert (server.command, server.args) == (sys.executable, [TOY, "--page-size", "4"])
    assert server.env_vars == ["TOY_KEY"] and server.default_risk == "high" and server.call_timeout == 12
    assert [g.name for g in server.allowed_groups.all()] == ["ops"]
    assert "never-stored" not in str(McpServer.objects.filter(pk=server.pk).values().get())
    event = AuditEvent.objects.get(kind="policy.changed")
    assert (event.actor, event.outcome, event.data["model"]) == ("command:mcp", "created", "tools.mcpserver")
    assert event.data["changes"]["env_vars"] == [None, ["TOY_KEY"]]


def test_add_an_http_server_with_a_header_from_a_variable():
    mcp("add", "gh", "--url", "https://mcp.example.com/mcp", "--header", "Authorization=GH_AUTH")
    server = McpServer.objects.get(name="gh")
    assert (server.transport, server.url, server.headers) == ("http", "https://mcp.example.com/mcp",
                                                               {"Authorization": "GH_AUTH"})


@pytest.mark.parametrize(("args", "message"), [
    (["add", "x", "--url", "https://h/mcp", "--header", "Authorization"], "expected NAME=ENVVAR"),
    (["add", "x", "--url", "https://h/mcp", "--group", "nobody"], "no such group: nobody"),
    (["add", "a__b", "--command", "run"], "no '__'"),
    (["add", "x", "--url", "ftp://h"], "not an http(s) URL"),
    (["add", "x", "--command", "run", "--header", "A=B"], "headers apply to HTTP servers"),
    (["tools", "missing"], "there is no MCP server named 'missing'"),
    (["remove", "missing"], "there is no MCP server named 'missing'"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_stored(args, message):
    with pytest.raises(CommandError) as caught:
        mcp(*args)
    assert message in str(caught.value)
    assert not McpServer.objects.exists() and not AuditEvent.objects.filter(kind="policy.changed").exists()


def test_add_refuses_a_second_server_of_the_same_name():
    mcp("add", "x", "--command", "run")
    with pytest.raises(CommandError, match="already exists"):
        mcp("add", "x", "--command", "other")
    assert McpServer.objects.get().command == "run"


def test_tools_connects_lists_and_records_the_state():
    mcp("add", "toy", "--command", shlex.join([sys.executable, TOY]))
    out = mcp("tools", "toy")
    assert "toy__echo" in out and "low" in out
    assert "toy__bad_schema" in out and "REFUSED" in out and "invalid JSON schema" in out
    server = McpServer.objects.get(name="toy")
    assert server.state == "connected" and server.tool_count > 5 and server.last_contact is not None
    assert any(row.get("refused") for row in server.catalog)
    listed = mcp("list")
    assert "toy" in listed and "connected" in listed


def test_tools_of_a_server_that_cannot_start_says_why():
    mcp("add", "broken", "--command", "/nonexistent/mcp-server")
    with pytest.raises(CommandError, match="not connected: command not found"):
        mcp("tools", "broken")
    assert McpServer.objects.get(name="broken").last_error.startswith("command not found")


def test_refresh_makes_every_process_reconnect_and_remove_is_audited():
    mcp("add", "toy", "--command", shlex.join([sys.executable, TOY]))
    out = mcp("refresh", "toy")
    assert "generation 1" in out and McpServer.objects.get().generation == 1
    assert "removed toy" in mcp("remove", "toy")
    assert not McpServer.objects.exists()
    deleted = AuditEvent.objects.filter(kind="policy.changed", outcome="deleted").get()
    assert deleted.data["deleted"]["name"] == "toy"
