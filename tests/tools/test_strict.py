"""Strict-mode exports: lossless rewrites applied, everything else refused naming its path."""

import pytest
from pydantic import BaseModel

from tests.tools.strict_rules import strict_problems
from tools import Tool, tool
from tools.errors import ToolDefinitionError
from tools.exports import to_openai, to_responses
from tools.strict import strict_schema


def _raw(schema: dict, strict=None) -> Tool:
    return Tool.from_definition({"name": "t", "description": "T.", "input_schema": schema},
                                lambda **kw: kw, strict=strict)


def _obj(**properties) -> dict:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(("schema", "reason"), [
    (_obj(q={}), r"q has no type \(a schema like \{\} or true accepts anything\)"),
    (_obj(q={"description": "Anything."}), r"q has no type \(only a description or annotations\)"),
    (_obj(opts=_obj(issuer={"description": "Who."})), r"opts\.issuer has no type"),
    (_obj(q={"type": "string", "optional": True}), r"q has the non-standard keyword 'optional'"),
    (_obj(q={"type": "integer", "enum": [1, "two"]}),
     r"q has the enum value \"two\" that is not of type integer"),
    (_obj(q={"type": "string", "minLength": 1}), r"q uses the keyword 'minLength'"),
    (_obj(q={"oneOf": [{"type": "string"}, {"type": "integer"}]}), r"q uses the keyword 'oneOf'"),
    (_obj(items={"type": "array", "items": _obj(qty={})}), r"items\.\*\.qty has no type"),
    (_obj(tags={"type": "array"}), r"tags is an array without a schema for its items"),
    ({"type": "object", "properties": {}, "optional": ["x"]},
     r"the arguments object has the non-standard keyword 'optional'"),
])
def test_what_strict_mode_cannot_express_is_exported_non_strict_or_refused_naming_the_path(schema, reason):
    made = _raw(schema)
    assert "strict" not in to_openai(made)["function"]  # auto: non-strict
    assert to_openai(made)["function"]["parameters"] == schema
    assert to_responses(made)["strict"] is False
    with pytest.raises(ToolDefinitionError, match=rf"^tool 't': {reason}.*use strict=False$"):
        to_openai(made, strict=True)
    with pytest.raises(ToolDefinitionError, match=reason):
        _raw(schema, strict=True)  # strict=True on the tool: refused at registration


def test_a_default_on_a_required_property_moves_into_the_description():
    made = _raw({"type": "object", "required": ["n"],
                 "properties": {"n": {"type": "integer", "default": 3, "description": "N."}}})
    exported = to_openai(made)["function"]
    assert exported["strict"] is True
    assert exported["parameters"]["properties"]["n"] == {"type": "integer", "description": "N. (default: 3)"}
    assert strict_problems(exported["parameters"]) == []


def test_annotations_are_dropped_and_unsupported_formats_described():
    made = _raw(_obj(url={"type": "string", "format": "uri", "title": "Url", "examples": ["https://a"]},
                     when={"type": "string", "format": "date-time"}))
    props = to_openai(made)["function"]["parameters"]["properties"]
    assert props["url"] == {"type": ["string", "null"],
                            "description": '(examples: ["https://a"]) (format: "uri")'}
    assert props["when"]["format"] == "date-time"  # supported: kept


def test_a_single_all_of_is_merged_and_a_bare_top_level_object_closed():
    made = _raw({"type": "object", "properties": {"p": {"allOf": [{"type": "string"}], "description": "P."}}})
    assert to_openai(made)["function"]["parameters"]["properties"]["p"] == {
        "type": ["string", "null"], "description": "P."}
    bare = to_openai(_raw({"type": "object"}))["function"]
    assert bare["strict"] is True
    assert bare["parameters"] == {"type": "object", "properties": {}, "required": [],
                                  "additionalProperties": False}


def test_every_object_is_nullable_and_closed_at_every_depth_for_typed_functions():
    class Item(BaseModel):
        sku: str
        qty: int = 1

    class Order(BaseModel):
        items: list[Item]
        gift: Item | None = None

    @tool
    def place(order: Order) -> None:
        """Place."""

    params = to_openai(place)["function"]["parameters"]
    assert strict_problems(params) == []
    item = params["properties"]["order"]["properties"]["items"]["items"]
    assert item["properties"]["qty"] == {"type": ["integer", "null"], "description": "(default: 1)"}
    assert item["required"] == ["sku", "qty"] and item["additionalProperties"] is False


def test_the_limits_of_strict_mode_are_enforced():
    deep: dict = {"type": "string"}
    for _ in range(11):
        deep = _obj(x=deep)
    with pytest.raises(ToolDefinitionError, match="nested more than 10 levels deep"):
        strict_schema(deep, "t")
    many = _obj(**{f"p{i}": {"type": "string", "enum": [str(j) for j in range(30)]} for i in range(40)})
    with pytest.raises(ToolDefinitionError, match="brings the enum values over 1000"):
        strict_schema(many, "t")


def test_strict_export_is_built_once_per_tool_and_format():
    made = _raw(_obj(q={"type": "string"}))
    assert to_openai(made) is to_openai(made)
    assert to_openai(made, strict=False) is not to_openai(made)
    assert to_responses(made) is to_responses(made)


def test_a_recursive_schema_keeps_its_definitions_and_is_strict():
    tree = {"type": "object", "properties": {"node": {"$ref": "#/$defs/n"}}, "required": ["node"],
            "$defs": {"n": {"type": "object", "properties": {
                "v": {"type": "integer", "default": 1},
                "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}}}
    made = _raw(tree)
    params = to_openai(made)["function"]["parameters"]
    assert strict_problems(params) == []
    assert params["$defs"]["n"]["properties"]["kids"]["type"] == ["array", "null"]
    deep: dict = {"v": 0}
    for i in range(50):
        deep = {"v": i, "kids": [deep]}
    deep["kids"].append({"v": None, "kids": None})  # a strict model's nulls, deep in the tree
    kwargs, _ = made.validate({"node": deep})
    assert kwargs["node"]["kids"][1] == {}
