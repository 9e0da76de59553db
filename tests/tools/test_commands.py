"""``manage.py tools list|schema|call`` for operators."""

import json
from io import StringIO

import pytest
from anthropic.types import ToolParam
from django.core.management import call_command
from django.core.management.base import CommandError
from openai.types.chat import ChatCompletionToolParam
from pydantic import TypeAdapter

from tools import ToolContext, tool
from tools.gate import GateDecision
from tools.models import ToolCall
from tools.registry import registry


@tool(read_only=True)
def cli_echo(text: str, times: int = 1) -> str:
    """Echo the text back.

    Repeats it if asked.

    Args:
        text: What to echo.
        times: How often.
    """
    return text * times


@tool(risk="high")
def cli_whoami(ctx: ToolContext, settings: dict | None = None) -> str:
    """Say who is calling."""
    return ctx.user.get_username()


def allow_all(call):
    return GateDecision.allow()


def park_all(call):
    return GateDecision.require_approval(rule="cli-test")


@pytest.fixture(autouse=True)
def cli_tools(settings):
    settings.TOOLS_GATE = "tests.tools.test_commands.allow_all"
    for item in (cli_echo, cli_whoami):
        registry.register(item)
    yield
    for item in (cli_echo, cli_whoami):
        registry.unregister(item.name)


def run(*args):
    out = StringIO()
    call_command("tools", *args, stdout=out)
    return out.getvalue()


def test_list_prints_a_table_of_every_tool():
    lines = run("list").splitlines()
    assert lines[0].split() == ["NAME", "RISK", "READ-ONLY", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["cli_echo"].split()[:3] == ["cli_echo", "low", "yes"]
    assert rows["cli_echo"].endswith("Echo the text back.")  # the first line only
    assert rows["cli_whoami"].split()[:3] == ["cli_whoami", "high", "no"]
    assert set(rows) == set(registry.names())
    columns = lines[0].index("RISK")
    assert all(line[columns - 2:columns] == "  " for line in lines)  # aligned


@pytest.mark.parametrize(("fmt", "typed_dict"), [
    ("openai", ChatCompletionToolParam), ("anthropic", ToolParam),
])
def test_schema_prints_the_definition_as_json(fmt, typed_dict):
    definition = json.loads(run("schema", "cli_echo", "--format", fmt))
    TypeAdapter(typed_dict).validate_python(definition)
    assert "cli_echo" in json.dumps(definition)


def test_schema_responses_strict_and_no_strict():
    strict = json.loads(run("schema", "cli_echo", "--format", "responses", "--strict"))
    assert strict["strict"] is True and strict["parameters"]["required"] == ["text", "times"]
    loose = json.loads(run("schema", "cli_echo", "--format", "responses", "--no-strict"))
    assert loose["strict"] is False and loose["parameters"]["required"] == ["text"]


def test_schema_strict_for_a_free_form_tool_is_a_clear_command_error():
    with pytest.raises(CommandError, match=r"tool 'cli_whoami': settings is a free-form object"):
        run("schema", "cli_whoami", "--format", "openai", "--strict")


def test_schema_of_an_unknown_tool_is_a_command_error():
    with pytest.raises(CommandError, match=r"there is no tool named 'nope'; `manage.py tools list`"):
        run("schema", "nope")


def test_schema_strict_with_anthropic_is_refused():
    with pytest.raises(CommandError, match="apply to the OpenAI formats"):
        run("schema", "cli_echo", "--format", "anthropic", "--strict")


@pytest.mark.django_db(transaction=True)
def test_call_runs_the_real_pipeline_and_prints_the_result(user):
    body = json.loads(run("call", "cli_echo", '{"text": "ab", "times": 2}', "--user", "alice"))
    assert body["status"] == "ok" and body["result"] == "abab" and body["name"] == "cli_echo"
    row = ToolCall.objects.get(pk=body["record_id"])
    assert row.user == user and row.status == "succeeded" and row.scope == {"source": "manage.py tools call"}


@pytest.mark.django_db(transaction=True)
def test_call_passes_the_user_to_the_tool(user):
    assert json.loads(run("call", "cli_whoami", "{}", "--user", "alice"))["result"] == "alice"


@pytest.mark.django_db(transaction=True)
def test_call_with_an_error_prints_it_and_exits_non_zero(user):
    out = StringIO()
    with pytest.raises(CommandError, match=r"the call failed: validation_error: invalid arguments") as info:
        call_command("tools", "call", "cli_echo", '{"text": 5}', "--user", "alice", stdout=out)
    assert info.value.returncode == 1
    body = json.loads(out.getvalue())
    assert body["status"] == "error" and body["error"]["details"][0]["path"] == "text"


@pytest.mark.django_db(transaction=True)
def test_call_of_an_unknown_tool_is_a_structured_error(user):
    out = StringIO()
    with pytest.raises(CommandError, match="unknown_tool"):
        call_command("tools", "call", "nope", "{}", "--user", "alice", stdout=out)
    assert json.loads(out.getvalue())["error"]["type"] == "unknown_tool"


@pytest.mark.django_db(transaction=True)
def test_call_parked_by_the_gate_exits_with_3(user, settings):
    settings.TOOLS_GATE = "tests.tools.test_commands.park_all"
    out = StringIO()
    with pytest.raises(CommandError, match="waiting for approval") as info:
        call_command("tools", "call", "cli_echo", '{"text": "x"}', "--user", "alice", stdout=out)
    assert info.value.returncode == 3
    body = json.loads(out.getvalue())
    assert body["status"] == "pending" and ToolCall.objects.get(pk=body["record_id"]).status == "pending"


@pytest.mark.django_db
def test_call_as_an_unknown_user_is_a_command_error():
    with pytest.raises(CommandError, match=r"there is no user named 'ghost'"):
        run("call", "cli_echo", '{"text": "x"}', "--user", "ghost")
    assert ToolCall.objects.count() == 0


def test_call_requires_a_user():
    with pytest.raises(CommandError, match="--user"):
        run("call", "cli_echo", "{}")
