"""Raw definitions' schemas: checked once, refused with a dotted path, never fetched."""

import pytest

from tools import Tool
from tools.errors import ToolDefinitionError
from tools.metaschema import check, parameter_path


def _define(parameters: dict) -> Tool:
    return Tool.from_definition({"type": "function", "function": {
        "name": "t", "description": "T.", "parameters": parameters}}, lambda **kw: kw)


@pytest.mark.parametrize(("parameters", "message"), [
    ({"type": "object", "properties": {"options": {"type": "object",
                                                   "properties": {"issuer": {"type": "dict"}}}}},
     "tool 't': invalid JSON schema at options.issuer: 'type' must be one of array, boolean, integer, null, "
     'number, object, string (or a list of them), got "dict"'),
    ({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
        "qty": {"type": "integer", "minimum": "1"}}}}}},
     "tool 't': invalid JSON schema at items.*.qty: 'minimum': \"1\" is not of type \"number\""),
    ({"type": "object", "properties": {"q": {"type": "string", "required": True}}},
     "tool 't': invalid JSON schema at q: 'required' must be a list of property names"),
    ({"type": "object", "properties": {"m": {"type": "array", "enum": ["a", "b"]}}},
     "tool 't': invalid JSON schema at m: no 'enum' value is of type array, so no argument could ever be "
     "valid there"),
])
def test_invalid_schemas_are_refused_with_the_dotted_parameter_path(parameters, message):
    with pytest.raises(ToolDefinitionError) as info:
        _define(parameters)
    assert str(info.value) == message
    assert "[" not in str(info.value)  # no jsonschema subscript dump


def test_remote_references_and_unknown_drafts_are_refused_without_any_network_access():
    with pytest.raises(ToolDefinitionError, match=r"\$ref 'https://example\.com/s\.json' cannot be resolved: "
                                                  r"only references inside the schema are allowed"):
        _define({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}})
    with pytest.raises(ToolDefinitionError, match=r"unknown '\$schema' 'https://example\.com/meta'"):
        _define({"$schema": "https://example.com/meta", "type": "object"})


def test_standard_drafts_and_local_references_are_accepted():
    made = _define({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                    "definitions": {"n": {"type": "integer"}},
                    "properties": {"a": {"$ref": "#/definitions/n"}}})
    assert made.validate({"a": 1}) == ({"a": 1}, {"a": 1})
    assert check({"type": "object"}).is_valid({})


def test_parameter_paths_read_like_arguments():
    assert parameter_path(["properties", "options", "properties", "issuer", "type"]) == "options.issuer"
    assert parameter_path(["properties", "items", "items", "properties", "qty"]) == "items.*.qty"
    assert parameter_path(["properties", "properties", "type"]) == "properties"  # a property so named
