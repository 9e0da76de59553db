"""Exports match what the installed OpenAI and Anthropic SDKs accept, in every mode."""

import typing
from typing import Annotated, Literal

import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from openai.types.shared_params import FunctionDefinition
from pydantic import BaseModel, Field, TypeAdapter

from tools import Tool, tool
from tools.errors import ToolDefinitionError
from tools.exports import export, strict_schema, to_anthropic, to_openai, to_responses


class Item(BaseModel):
    sku: str
    qty: int = 1


@tool
def order(customer: str, items: list[Item], note: str | None = None,
          priority: Literal["low", "high"] = "low",
          copies: Annotated[int, Field(ge=1, description="How many")] = 1) -> str:
    """Place an order.

    Args:
        customer: Customer id.
        items: What to order.
        note: Free text for the courier.
        priority: Delivery priority.
    """
    return customer


@tool
def free_form(data: dict) -> None:
    """Take anything."""


def _keys(typed_dict: type) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


def _check(typed_dict: type, value: dict) -> None:
    TypeAdapter(typed_dict).validate_python(value)
    extra = set(value) - _keys(typed_dict)
    assert not extra, f"keys outside {typed_dict.__name__}: {extra}"


@pytest.mark.parametrize("strict", [None, True, False])
def test_openai_chat_export_is_a_valid_chat_completion_tool_param(strict):
    exported = to_openai(order, strict=strict)
    _check(ChatCompletionToolParam, exported)
    _check(FunctionDefinition, exported["function"])
    assert exported["type"] == "function" and exported["function"]["name"] == "order"


@pytest.mark.parametrize("strict", [None, True, False])
def test_responses_export_is_a_valid_function_tool_param(strict):
    exported = to_responses(order, strict=strict)
    _check(FunctionToolParam, exported)
    assert exported["strict"] is (strict is not False)


def test_anthropic_export_is_a_valid_tool_param():
    exported = to_anthropic(order)
    _check(ToolParam, exported)
    assert exported["input_schema"] == order.parameters


def test_strict_export_closes_every_object_and_requires_every_property():
    params = to_openai(order, strict=True)["function"]["parameters"]

    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    found = list(objects(params))
    assert len(found) == 2  # the arguments and Item
    for node in found:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    assert "'default':" not in str(params)  # strict mode has no defaults; see the description


def test_strict_export_makes_optionals_nullable_and_keeps_the_default_in_the_description():
    props = to_openai(order, strict=True)["function"]["parameters"]["properties"]
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["priority"]["type"] == ["string", "null"]
    assert props["priority"]["enum"] == ["low", "high", None]
    assert props["priority"]["description"] == 'Delivery priority. (default: "low")'
    assert props["copies"]["type"] == ["integer", "null"]
    assert props["copies"]["description"] == "How many (default: 1)"
    assert props["customer"]["type"] == "string"  # required stays non-nullable
    item = props["items"]["items"]
    assert item["properties"]["qty"]["type"] == ["integer", "null"]


def test_non_strict_export_is_the_generated_schema_unchanged():
    exported = to_openai(order, strict=False)
    assert "strict" not in exported["function"]
    assert exported["function"]["parameters"] == order.parameters
    assert order.parameters["required"] == ["customer", "items"]


def test_strict_export_does_not_modify_the_tool_schema():
    before = repr(order.parameters)
    to_openai(order, strict=True)
    to_responses(order, strict=True)
    assert repr(order.parameters) == before


def test_strict_mode_with_a_free_form_dict_raises_a_clear_error():
    with pytest.raises(ToolDefinitionError, match=r"tool 'free_form': data is a free-form object .* "
                                                  r"use a pydantic model or strict=False"):
        to_openai(free_form, strict=True)
    with pytest.raises(ToolDefinitionError, match="free-form"):
        to_responses(free_form, strict=True)


def test_free_form_dict_is_exported_non_strict_when_strict_is_not_asked_for():
    exported = to_openai(free_form)
    assert "strict" not in exported["function"]
    assert to_responses(free_form)["strict"] is False
    _check(FunctionToolParam, to_responses(free_form))


def test_a_bare_object_schema_without_properties_is_free_form_too():
    with pytest.raises(ToolDefinitionError, match=r"tool 't': opts is a free-form object"):
        strict_schema({"type": "object", "properties": {"opts": {"type": "object"}}}, "t")


def test_tool_strict_setting_is_the_default_for_exports():
    def f(x: int) -> int:
        """F."""
        return x

    assert "strict" not in to_openai(tool(f, strict=False))["function"]
    assert to_openai(tool(f, strict=True))["function"]["strict"] is True
    assert to_openai(tool(f, strict=False), strict=True)["function"]["strict"] is True


def test_raw_definition_round_trips_through_every_format():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    t = Tool.from_definition({"name": "find", "description": "Find.", "input_schema": schema}, lambda q: q)
    _check(ToolParam, export(t, "anthropic"))
    _check(ChatCompletionToolParam, export(t, "openai"))
    _check(FunctionToolParam, export(t, "responses"))
    assert export(t, "anthropic")["input_schema"] == schema


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match=r"unknown format 'gemini'; expected one of openai, responses, "):
        export(order, "gemini")


def test_optional_constant_becomes_a_nullable_enum():
    def f(mode: Literal["only"] = "only") -> None:
        """F."""

    props = to_openai(tool(f), strict=True)["function"]["parameters"]["properties"]
    assert props["mode"]["enum"] == ["only", None] and "const" not in props["mode"]
