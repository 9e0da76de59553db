"""Every definition of a public corpus (BFCL, the GitHub MCP server) registers or is refused
clearly; every registered one exports correctly, validates its own example and refuses
unknown keys (tests/tools/corpus/README.md says where each file comes from)."""

from __future__ import annotations

import copy
import re

import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import TypeAdapter

from tests.tools.corpus_helpers import (
    NoExample,
    defaults,
    definitions,
    example,
    fits,
    nested_closed_object,
    unconverted,
)
from tests.tools.strict_rules import strict_problems
from tools import Tool
from tools.errors import ToolDefinitionError
from tools.exports import to_anthropic, to_openai, to_responses
from tools.registry import Registry
from tools.strict import strict_schema
from tools.validation import ValidationFailure

CORPUS = definitions()
# A definition OpenAI strict mode cannot take is refused for one of these reasons, never another.
NOT_STRICT = re.compile(
    r"^tool '[^']+': (?P<path>the arguments object|\S+) (has no type|is a free-form object"
    r"|has the non-standard keyword|uses the keyword|has the enum value|is an array without a schema"
    r"|is a union at the top level"
    r"|has type|is nested more than|has a '\$ref' beside)"
)


def _echo(**kwargs):
    return kwargs


@pytest.fixture(scope="module")
def outcome() -> tuple[list[tuple[str, Tool]], list[tuple[str, str]]]:
    registry = Registry()
    made, refused = [], []
    for source, definition in CORPUS:
        try:
            made.append((source, registry.register_definition(definition, _echo)))
        except ToolDefinitionError as exc:
            refused.append((source, str(exc)))
    return made, refused


@pytest.fixture(scope="module")
def tools(outcome) -> list[tuple[str, Tool]]:
    return outcome[0]


def test_the_corpus_is_large_and_varied():
    sources = {source.split(":")[0] for source, _ in CORPUS}
    assert len(CORPUS) >= 1000 and sources == {"bfcl", "github-mcp-server"}
    assert len({d.get("function", d)["name"] for _, d in CORPUS}) == len(CORPUS)  # one catalog


def test_every_corpus_definition_registers_or_is_refused_for_a_contradiction_it_names(outcome):
    made, refused = outcome
    assert len(made) + len(refused) == len(CORPUS) and len(made) > 0.99 * len(CORPUS)
    for source, message in refused:  # e.g. {"type": "array", "enum": ["favorability", ...]}
        assert re.match(r"^tool '\w+': invalid JSON schema at [\w.*]+: no 'enum' value is of type \w+, so no "
                        r"argument could ever be valid there$", message), (source, message)


def test_definitions_in_a_non_json_schema_dialect_are_refused_naming_the_path():
    # BFCL's own notation ("dict", "float", "tuple") before its conversion for OpenAI.
    refused = 0
    for source, definition in unconverted():
        with pytest.raises(ToolDefinitionError, match=r"the parameters schema must have type 'object'"):
            Tool.from_definition(definition, _echo)
        half = copy.deepcopy(definition)
        half["name"] = half["name"].replace(".", "_")
        half["parameters"]["type"] = "object"  # only the top level converted: the rest is named
        try:
            Tool.from_definition(half, _echo)
        except ToolDefinitionError as exc:
            refused += 1
            assert re.match(r"^tool '[^']+': invalid JSON schema at [\w.*]+: 'type' must be one of array, "
                            r"boolean, integer, null, number, object, string", str(exc)), (source, str(exc))
    assert refused >= 10


def test_every_export_is_strict_exactly_when_openai_would_accept_it(tools):
    strict = 0
    for source, item in tools:
        chat = to_openai(item)["function"]
        if chat.get("strict"):
            strict += 1
            assert strict_problems(chat["parameters"]) == [], source
            assert to_responses(item)["strict"] is True
        else:
            with pytest.raises(ToolDefinitionError) as info:
                strict_schema(item.parameters, item.name)
            assert NOT_STRICT.match(str(info.value)), (source, str(info.value))
            with pytest.raises(ToolDefinitionError, match=re.escape(str(info.value))):
                to_openai(item, strict=True)
            assert chat["parameters"] == item.parameters
    assert strict > 0.9 * len(tools)


def test_exports_are_what_the_sdks_accept(tools):
    for _, item in tools[::7]:
        TypeAdapter(ChatCompletionToolParam).validate_python(to_openai(item))
        TypeAdapter(FunctionToolParam).validate_python(to_responses(item))
        TypeAdapter(ToolParam).validate_python(to_anthropic(item))


def test_every_tool_validates_its_own_example_and_refuses_unknown_keys(tools):
    checked = nested = 0
    for source, item in tools:
        try:
            value = example(item.parameters)
        except NoExample:
            continue  # a pattern or format the generator cannot meet
        checked += 1
        kwargs, _ = item.validate(value)
        assert kwargs == value, source
        with pytest.raises(ValidationFailure) as info:
            item.validate({**value, "zz_unknown": 1})
        assert info.value.error.details == [
            {"path": "zz_unknown", "problem": "is not an accepted argument", "got": 1}], source
        inner = nested_closed_object(value, item.parameters)
        if inner is not None:
            nested += 1
            path, target = inner
            target["zz_unknown"] = 2
            with pytest.raises(ValidationFailure) as info:
                item.validate(value)
            assert info.value.error.details[0]["path"] == f"{path}.zz_unknown", source
            del target["zz_unknown"]
    assert checked > 0.85 * len(tools) and nested >= 20


def test_every_top_level_default_is_accepted_as_a_value_unless_it_contradicts_its_own_type(tools):
    accepted = refused = 0
    for source, item in tools:
        try:
            base = example(item.parameters, optional=False)
        except NoExample:
            continue
        for name, value, node in defaults(item.parameters):
            if "pattern" in node or "format" in node:
                continue
            if fits(value, node):
                item.validate({**base, name: value})
                accepted += 1
            else:  # e.g. {"type": "boolean", "default": "false"}: the model may not send "false"
                with pytest.raises(ValidationFailure) as info:
                    item.validate({**base, name: value})
                assert info.value.error.details[0]["path"] == name, source
                refused += 1
    assert accepted > 300 and refused > 0


def test_every_strict_tool_takes_the_nulls_a_strict_model_sends_at_every_depth(tools):
    checked = 0
    for source, item in tools:
        chat = to_openai(item)["function"]
        if not chat.get("strict"):
            continue
        try:
            value = example(item.parameters, optional=False)
        except NoExample:
            continue
        strict_value = _with_nulls(value, chat["parameters"], item.parameters)
        kwargs, _ = item.validate(strict_value)
        assert kwargs == value, source
        checked += 1
    assert checked > 0.8 * len(tools)


def _with_nulls(value, strict_node, node):
    """``value`` as a strict-mode model sends it: every property present, optional ones null."""
    if isinstance(value, dict) and isinstance(strict_node.get("properties"), dict):
        out = {}
        for name, sub in strict_node["properties"].items():
            original = (node.get("properties") or {}).get(name, {})
            out[name] = _with_nulls(value[name], sub, original) if name in value else None
        return out
    if isinstance(value, list) and isinstance(strict_node.get("items"), dict):
        return [_with_nulls(v, strict_node["items"], node.get("items") or {}) for v in value]
    return value
