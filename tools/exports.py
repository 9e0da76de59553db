"""A tool's definition in each provider's wire format.

OpenAI Chat Completions (optionally ``strict``), OpenAI Responses and Anthropic Messages
take the same JSON Schema in slightly different envelopes. Strict mode additionally
requires a closed schema: every object has ``additionalProperties: false`` and lists all of
its properties as required, so optional arguments are expressed as nullable instead.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Literal

from tools.errors import ToolDefinitionError

if TYPE_CHECKING:
    from tools.definition import Tool

Format = Literal["openai", "responses", "anthropic"]
FORMATS: tuple[str, ...] = ("openai", "responses", "anthropic")


def to_openai(tool: Tool, *, strict: bool | None = None) -> dict[str, Any]:
    """``{"type": "function", "function": {...}}`` for Chat Completions."""
    use_strict = _use_strict(tool, strict)
    function: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": strict_schema(tool.parameters, tool.name) if use_strict else tool.parameters,
    }
    if use_strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def to_responses(tool: Tool, *, strict: bool | None = None) -> dict[str, Any]:
    """The flat function-tool shape of the Responses API."""
    use_strict = _use_strict(tool, strict)
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": strict_schema(tool.parameters, tool.name) if use_strict else tool.parameters,
        "strict": use_strict,
    }


def to_anthropic(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def export(tool: Tool, fmt: str, *, strict: bool | None = None) -> dict[str, Any]:
    if fmt == "openai":
        return to_openai(tool, strict=strict)
    if fmt == "responses":
        return to_responses(tool, strict=strict)
    if fmt == "anthropic":
        return to_anthropic(tool)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def strict_compatible(schema: dict[str, Any]) -> bool:
    try:
        strict_schema(schema, "?")
    except ToolDefinitionError:
        return False
    return True


def strict_schema(schema: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """The schema rewritten for OpenAI strict mode; fails for free-form objects."""
    return _strict(copy.deepcopy(schema), tool_name, "")


def _use_strict(tool: Tool, strict: bool | None) -> bool:
    if strict is None:
        strict = tool.strict
    if strict is None:
        return strict_compatible(tool.parameters)
    if strict:
        strict_schema(tool.parameters, tool.name)  # raise the precise reason now
    return strict


def _strict(node: dict[str, Any], tool_name: str, path: str) -> dict[str, Any]:
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [_strict(sub, tool_name, path) for sub in node[key]]
    if "items" in node and isinstance(node["items"], dict):
        node["items"] = _strict(node["items"], tool_name, f"{path}[]")
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        # An object without listed properties is free-form too: closing it would silently
        # make ``{}`` the only value the model could send.
        if extra not in (None, False) or ("properties" not in node and extra is not False):
            where = path or "the arguments"
            raise ToolDefinitionError(
                f"tool {tool_name!r}: {where} is a free-form object (a dict without fixed keys), "
                "which OpenAI strict mode cannot express; use a pydantic model or strict=False"
            )
        properties = node.setdefault("properties", {})
        required = set(node.get("required", []))
        for name, sub in list(properties.items()):
            sub = _strict(sub, tool_name, f"{path}.{name}" if path else name)
            if name not in required:
                sub = _nullable(sub)
            properties[name] = sub
        node["required"] = list(properties)
        node["additionalProperties"] = False
    return node


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """Allow null; the default (not allowed in strict mode) moves into the description."""
    if "default" in node:
        default = node.pop("default")
        if default is not None:
            note = f"(default: {json.dumps(default)})"
            node["description"] = f"{node['description']} {note}" if node.get("description") else note
    if "anyOf" in node:
        if not any(sub.get("type") == "null" for sub in node["anyOf"]):
            node["anyOf"].append({"type": "null"})
        return node
    kind = node.get("type")
    if isinstance(kind, str) and kind != "null":
        node["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        node["type"] = [*kind, "null"]
    elif kind is None:
        node = {"anyOf": [node, {"type": "null"}]}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node
