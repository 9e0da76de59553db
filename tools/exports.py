"""A tool's definition in each provider's wire format.

OpenAI Chat Completions (optionally ``strict``), OpenAI Responses and Anthropic Messages
take the same JSON Schema in slightly different envelopes. Strict mode additionally
requires a closed schema: every object has ``additionalProperties: false`` and lists all of
its properties as required, so optional arguments are expressed as nullable instead
(:mod:`tools.strict` rewrites the schema, or says why it cannot).

Each export is built once per tool and format and then shared, so offering a large catalog
costs a dictionary lookup per tool and turn, not a schema rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from tools.errors import ToolDefinitionError
from tools.strict import strict_schema

if TYPE_CHECKING:
    from tools.definition import Tool

Format = Literal["openai", "responses", "anthropic"]
FORMATS: tuple[str, ...] = ("openai", "responses", "anthropic")


def to_openai(tool: Tool, *, strict: bool | None = None) -> dict[str, Any]:
    """``{"type": "function", "function": {...}}`` for Chat Completions."""
    return _cached(tool, "openai", strict)


def to_responses(tool: Tool, *, strict: bool | None = None) -> dict[str, Any]:
    """The flat function-tool shape of the Responses API."""
    return _cached(tool, "responses", strict)


def to_anthropic(tool: Tool) -> dict[str, Any]:
    return _cached(tool, "anthropic", None)


def export(tool: Tool, fmt: str, *, strict: bool | None = None) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _cached(tool, fmt, strict)


def strict_compatible(schema: dict[str, Any]) -> bool:
    try:
        strict_schema(schema, "?")
    except ToolDefinitionError:
        return False
    return True


def _cached(tool: Tool, fmt: str, strict: bool | None) -> dict[str, Any]:
    """Exports are worked out once per tool object (a tool's schema never changes after it
    is made; a changed tool is a new object) and shared: callers must not modify them."""
    key = (fmt, strict)
    exports = tool.exports
    found = exports.get(key)
    if found is None:
        found = exports[key] = _build(tool, fmt, strict)
    return found


def _build(tool: Tool, fmt: str, strict: bool | None) -> dict[str, Any]:
    if fmt == "anthropic":
        return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
    parameters = _strict_parameters(tool, strict)
    if fmt == "responses":
        return {"type": "function", "name": tool.name, "description": tool.description,
                "parameters": parameters if parameters is not None else tool.parameters,
                "strict": parameters is not None}
    function: dict[str, Any] = {
        "name": tool.name, "description": tool.description,
        "parameters": parameters if parameters is not None else tool.parameters,
    }
    if parameters is not None:
        function["strict"] = True
    return {"type": "function", "function": function}


def _strict_parameters(tool: Tool, strict: bool | None) -> dict[str, Any] | None:
    """The strict parameters, or ``None`` for a non-strict export. Unset (``None``) means the
    tool's own setting, and when that is unset too: strict whenever the schema allows it."""
    if strict is None:
        strict = tool.strict
    if strict is False:
        return None
    try:
        return strict_schema(tool.parameters, tool.name)
    except ToolDefinitionError:
        if strict:
            raise  # strict=True: the precise reason, now
        return None


__all__ = ["FORMATS", "Format", "export", "strict_compatible", "strict_schema", "to_anthropic",
           "to_openai", "to_responses"]
