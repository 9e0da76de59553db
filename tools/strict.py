"""A tool's JSON Schema rewritten for OpenAI strict mode, or the precise reason it cannot be.

Strict mode (Structured Outputs) accepts a subset of JSON Schema: every object closed
(``additionalProperties: false``) with every property required, optional ones made nullable
instead; a fixed set of keywords per type; no typeless nodes; no ``default``; at most
10 levels of nesting, 5,000 properties and 1,000 enum values. OpenAI rejects a whole request
over one schema outside it, so a schema is either rewritten *losslessly* or refused with
the dotted path of the first problem (``options.issuer``; array items are ``*``).

Lossless rewrites: ``default``, ``examples`` and an unsupported ``format`` move into the
description (the validator still applies them: a ``null`` sent for an optional property
means its default, see :mod:`tools.arguments`); ``title`` and other annotations are dropped;
an ``allOf`` of one schema is merged; a top-level ``{"type": "object"}`` without properties
becomes an empty closed object (the arguments object is closed anyway).

Not rewritten (the tool is exported non-strict when ``strict`` is unset, and
``strict=True`` raises): typeless nodes, free-form objects, arrays without ``items``,
unknown or unsupported keywords (``optional``, ``minLength``, ``oneOf`` …), enum values of
the wrong type, and schemas over the limits.
"""

from __future__ import annotations

import json
from typing import Any

from tools.errors import ToolDefinitionError

MAX_DEPTH = 10
MAX_PROPERTIES = 5000
MAX_ENUM_VALUES = 1000
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_COMMON = frozenset({"type", "description", "enum", "const", "anyOf", "$ref"})
_BY_TYPE = {
    "string": frozenset({"pattern", "format"}),
    "number": frozenset({"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}),
    "integer": frozenset({"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "boolean": frozenset(), "null": frozenset(),
}
_DROPPED = frozenset({"title", "$comment", "deprecated", "readOnly", "writeOnly", "$schema", "$id"})
_TO_DESCRIPTION = ("default", "examples")
# Every keyword of JSON Schema 2020-12 (and drafts 4 to 7): anything else is not JSON Schema at all.
_STANDARD = frozenset({
    "$schema", "$id", "$ref", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$comment", "definitions", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired", "dependencies", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "dependentSchemas", "prefixItems", "items", "additionalItems", "contains", "properties",
    "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems",
    "unevaluatedProperties", "format", "contentEncoding", "contentMediaType", "contentSchema",
    "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
})
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "null": (type(None),), "array": (list,), "object": (dict,),
}


def _fail(tool_name: str, path: str, reason: str,
          fix: str = "change the schema or use strict=False") -> ToolDefinitionError:
    where = path or "the arguments object"
    return ToolDefinitionError(f"tool {tool_name!r}: {where} {reason}, which OpenAI strict mode cannot "
                               f"express; {fix}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def strict_schema(schema: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """The schema rewritten for OpenAI strict mode; raises :class:`ToolDefinitionError`
    naming the first problem's path. ``schema`` itself is never modified."""
    if "anyOf" in schema or "oneOf" in schema:
        raise _fail(tool_name, "", "is a union at the top level")
    root = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    if root.get("type") == "object" and "properties" not in root and root.get("additionalProperties") in (
            None, False) and "patternProperties" not in root:
        root["properties"] = {}
    counter = {"properties": 0, "enum": 0}
    converted = _convert(root, tool_name, "", 1, counter)
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            converted[key] = {name: _convert(sub, tool_name, f"{key}.{name}", 1, counter)
                              for name, sub in schema[key].items()}
    return converted


def _note(description: Any, label: str, value: Any) -> str:
    text = f"({label}: {json.dumps(value, ensure_ascii=False, default=str)})"
    return f"{description} {text}" if isinstance(description, str) and description else text


def _types(node: dict[str, Any], tool_name: str, path: str) -> list[str]:
    kind = node.get("type")
    if kind is None:
        return []
    kinds = kind if isinstance(kind, list) else [kind]
    for item in kinds:
        if item not in _BY_TYPE:
            raise _fail(tool_name, path, f"has type {item!r}")
    return list(kinds)


def _convert(node: Any, tool_name: str, path: str, depth: int, counter: dict[str, int]) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise _fail(tool_name, path, f"is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict) or not node:
        raise _fail(tool_name, path, "has no type (a schema like {} or true accepts anything)")
    node = dict(node)
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1 and isinstance(node["allOf"][0], dict):
        node = {**node.pop("allOf")[0], **node}
    for key in list(node):
        if key in _DROPPED:
            del node[key]
        elif key in _TO_DESCRIPTION:
            value = node.pop(key)
            if value is not None:
                node["description"] = _note(node.get("description"), "default" if key == "default" else key,
                                            value)
    kinds = _types(node, tool_name, path)
    if node.get("format") is not None and node["format"] not in FORMATS:
        node["description"] = _note(node.get("description"), "format", node.pop("format"))
    allowed = set(_COMMON)
    for kind in kinds or list(_BY_TYPE):
        allowed |= _BY_TYPE[kind]
    for key in node:
        if key not in allowed:
            what = "uses the keyword" if key in _STANDARD else "has the non-standard keyword"
            raise _fail(tool_name, path, f"{what} {key!r}")
    if not any(key in node for key in ("type", "anyOf", "enum", "const", "$ref")):
        raise _fail(tool_name, path, "has no type (only a description or annotations)")
    _check_values(node, kinds, tool_name, path, counter)
    if "$ref" in node and set(node) - {"$ref", "description"}:
        raise _fail(tool_name, path, "has a '$ref' beside other keywords")
    if "anyOf" in node:
        if not isinstance(node["anyOf"], list) or not node["anyOf"]:
            raise _fail(tool_name, path, "has an empty 'anyOf'")
        node["anyOf"] = [_convert(sub, tool_name, path, depth, counter) for sub in node["anyOf"]]
    if "array" in kinds:
        if not isinstance(node.get("items"), dict):
            raise _fail(tool_name, path, "is an array without a schema for its items")
        node["items"] = _convert(node["items"], tool_name, _join(path, "*"), depth + 1, counter)
    if "object" in kinds or "properties" in node:
        _object(node, tool_name, path, depth, counter)
    return node


def _check_values(node: dict[str, Any], kinds: list[str], tool_name: str, path: str,
                  counter: dict[str, int]) -> None:
    values = list(node["enum"]) if isinstance(node.get("enum"), list) else None
    if "enum" in node and (values is None or not values):
        raise _fail(tool_name, path, "has an 'enum' that is not a non-empty list")
    if "const" in node:
        values = [*(values or []), node["const"]]
    if values is None:
        return
    counter["enum"] += len(values)
    if counter["enum"] > MAX_ENUM_VALUES:
        raise _fail(tool_name, path, f"brings the enum values over {MAX_ENUM_VALUES}")
    for value in values:
        if isinstance(value, (dict, list)):
            raise _fail(tool_name, path, f"has the enum value {json.dumps(value)[:40]} (not a scalar)")
        if kinds and not any(_matches(value, kind) for kind in kinds):
            raise _fail(tool_name, path, f"has the enum value {json.dumps(value)} that is not of type "
                                         f"{' or '.join(kinds)}")


def _matches(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _PY_TYPES[kind])


def _object(node: dict[str, Any], tool_name: str, path: str, depth: int, counter: dict[str, int]) -> None:
    extra = node.get("additionalProperties")
    if extra not in (None, False) or "properties" not in node or not isinstance(node["properties"], dict):
        raise _fail(tool_name, path, "is a free-form object (a dict without fixed keys)",
                    "use a pydantic model or strict=False")
    required = set(node.get("required") or [])
    properties: dict[str, Any] = {}
    for name, sub in node["properties"].items():
        counter["properties"] += 1
        if counter["properties"] > MAX_PROPERTIES:
            raise _fail(tool_name, path, f"brings the properties over {MAX_PROPERTIES}")
        converted = _convert(sub, tool_name, _join(path, name), depth + 1, counter)
        properties[name] = converted if name in required else nullable(converted)
    node["properties"] = properties
    node["required"] = list(properties)
    node["additionalProperties"] = False


def nullable(node: dict[str, Any]) -> dict[str, Any]:
    """Allow ``null`` as well (an optional property in strict mode); ``node`` is already a copy."""
    if "anyOf" in node:
        if not any(sub.get("type") == "null" for sub in node["anyOf"]):
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
        return node
    if "$ref" in node:
        return {"anyOf": [node, {"type": "null"}]}
    kind = node.get("type")
    if isinstance(kind, str) and kind != "null":
        node["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        node["type"] = [*kind, "null"]
    elif kind is None:
        node = {"anyOf": [node, {"type": "null"}]}
        return node
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node
