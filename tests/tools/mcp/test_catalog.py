"""The risk table and the naming rules for MCP tools (tools.mcp.catalog), on plain data."""

from __future__ import annotations

import mcp_types as types
import pytest

from tools.mcp.catalog import (
    build,
    idempotent_from_annotations,
    registered_name,
    risk_from_annotations,
    split_name,
)
from tools.mcp.spec import ServerSpec

SPEC = ServerSpec(name="srv", transport="stdio", command="x")


async def noop(**kwargs):
    return None


@pytest.mark.parametrize(("hints", "risk"), [
    (None, "high"),
    ({}, "high"),
    ({"readOnlyHint": True}, "low"),
    ({"destructiveHint": True}, "high"),
    ({"readOnlyHint": True, "destructiveHint": True}, "high"),  # the cautious reading wins
    ({"readOnlyHint": False, "destructiveHint": False}, "medium"),
    ({"idempotentHint": True}, "medium"),
    ({"openWorldHint": False}, "medium"),
    ({"title": "only a title"}, "high"),
])
def test_risk_follows_the_documented_table(hints, risk):
    assert risk_from_annotations(hints) == risk


def tool(name, schema=None, **hints):
    return types.Tool(name=name, description=f"{name} does things",
                      input_schema=schema or {"type": "object", "properties": {}},
                      annotations=types.ToolAnnotations(**hints) if hints else None)


def test_every_listed_tool_is_either_built_or_refused_with_a_reason():
    long_name = "x" * 70
    entries = build(SPEC, [tool("ok", read_only_hint=True), tool(long_name), tool("ok"),
                           tool("bad", {"type": "object", "properties": {"a": {"minimum": "zero"}}}),
                           tool("arr", {"type": "array"})],
                    call=lambda remote: noop)
    by_tool = {(e.remote_name, i): e for i, e in enumerate(entries)}
    assert [e.name for e in entries] == ["srv__ok", f"srv__{long_name}", "srv__ok", "srv__bad", "srv__arr"]
    ok, too_long, dup, bad, arr = (by_tool[k] for k in sorted(by_tool, key=lambda k: k[1]))
    assert ok.tool is not None and ok.tool.server == "srv" and ok.tool.remote_name == "ok"
    assert "1,64" in too_long.refused
    assert "already taken" in dup.refused
    assert "invalid JSON schema" in bad.refused and "at a: 'minimum'" in bad.refused
    assert "type 'object'" in arr.refused


def test_names_split_back_into_server_and_tool():
    assert registered_name("srv", "a__b") == "srv__a__b"
    assert split_name("srv__a__b") == ("srv", "a__b")
    assert split_name("calculator") is None


def test_control_characters_are_stripped_from_descriptions_and_long_ones_cut():
    item = types.Tool(name="t", description="evil\x1b[31m text" + "y" * 5000, input_schema={"type": "object"})
    [entry] = build(SPEC, [item], call=lambda remote: noop)
    assert "\x1b" not in entry.tool.description and len(entry.tool.description) <= 4001


def test_a_tool_listed_again_unchanged_is_reused_and_a_changed_one_rebuilt():
    first = [tool("same", read_only_hint=True), tool("edited", read_only_hint=True)]
    built = build(SPEC, first, call=lambda remote: noop)
    previous = {e.remote_name: (item, e.tool) for item, e in zip(first, built, strict=True)}
    edited = types.Tool(name="edited", description="now it deletes things",
                        input_schema={"type": "object", "properties": {}},
                        annotations=types.ToolAnnotations(destructive_hint=True))
    again = build(SPEC, [tool("same", read_only_hint=True), edited, tool("new")],
                  call=lambda remote: noop, previous=previous)
    same, changed, new = (e.tool for e in again)
    assert same is built[0].tool  # equal listing: the very same Tool (its exports stay cached)
    assert changed is not built[1].tool
    assert changed.description == "now it deletes things" and changed.risk == "high"
    assert new is not None and new.name == "srv__new"
@pytest.mark.parametrize(("hints", "idempotent"), [
    (None, False),
    ({}, False),
    ({"readOnlyHint": True}, True),
    ({"idempotentHint": True}, True),
    ({"destructiveHint": True, "idempotentHint": True}, True),  # repeating it does nothing more
    ({"destructiveHint": True}, False),
    ({"readOnlyHint": True, "destructiveHint": True}, False),  # contradictory: the cautious reading
    ({"readOnlyHint": False, "idempotentHint": False}, False),
    ({"openWorldHint": True}, False),
])
def test_a_tool_is_idempotent_only_when_its_hints_say_it_only_reads_or_repeats_harmlessly(hints, idempotent):
    assert idempotent_from_annotations(hints) is idempotent


def test_built_mcp_tools_carry_the_idempotent_flag_from_their_hints():
    entries = build(SPEC, [tool("reader", read_only_hint=True), tool("writer", destructive_hint=True),
                           tool("setter", idempotent_hint=True), tool("bare")], call=lambda remote: noop)
    assert {e.remote_name: e.tool.idempotent for e in entries} == {
        "reader": True, "writer": False, "setter": True, "bare": False}
