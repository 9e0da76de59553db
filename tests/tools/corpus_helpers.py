"""The public corpus of function definitions (tests/tools/corpus/README.md), and example
arguments made from each schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "corpus"


def definitions() -> list[tuple[str, dict[str, Any]]]:
    """(source, raw definition) for every corpus entry, in the shape its source sends."""
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in json.loads((CORPUS / "bfcl_openai.json").read_text()):
        found.append((entry["source"], entry["definition"]))
    for entry in json.loads((CORPUS / "github_mcp_server.json").read_text()):
        tool = entry["tool"]  # an MCP tools/list entry: inputSchema, as Anthropic's input_schema
        found.append((entry["source"], {"name": tool["name"], "description": tool.get("description", ""),
                                        "input_schema": tool["inputSchema"]}))
    return found


def unconverted() -> list[tuple[str, dict[str, Any]]]:
    entries = json.loads((CORPUS / "bfcl_unconverted.json").read_text())
    return [(e["source"], e["definition"]) for e in entries]


def queries() -> list[dict[str, str]]:
    return json.loads((CORPUS / "queries.json").read_text())


class NoExample(Exception):
    """The schema constrains a value beyond what the generator below knows how to meet."""


def example(node: Any, *, optional: bool = True, depth: int = 0) -> Any:
    """A value valid for ``node``: its default, example, first enum value, or a plain value
    of its type; objects get their required properties (and optional ones if ``optional``)."""
    if not isinstance(node, dict) or depth > 12:
        return "x"
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    if "default" in node and node["default"] is not None and fits(node["default"], node):
        return node["default"]
    if isinstance(node.get("examples"), list) and node["examples"]:
        return node["examples"][0]
    for key in ("anyOf", "oneOf"):
        if node.get(key):
            real = [s for s in node[key] if isinstance(s, dict) and s.get("type") != "null"]
            return example(real[0] if real else node[key][0], optional=optional, depth=depth + 1)
    if "pattern" in node or "format" in node or "allOf" in node or "not" in node:
        raise NoExample(str(node)[:80])
    kind = node.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        required = set(node.get("required") or [])
        props = node.get("properties") or {}
        return {name: example(sub, optional=optional, depth=depth + 1) for name, sub in props.items()
                if name in required or optional}
    if kind == "array":
        count = max(int(node.get("minItems", 1)), 1)
        return [example(node.get("items", {}), optional=optional, depth=depth + 1)] * count
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0))
        value = max(1, int(low) + 1 if "exclusiveMinimum" in node else int(low))
        if "maximum" in node and value > node["maximum"]:
            value = int(node["maximum"])
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    length = int(node.get("minLength", 1))
    return "x" * max(length, 1)


_PY = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
       "object": dict}


def fits(value: Any, node: dict[str, Any]) -> bool:
    """Whether a default meets its own schema's type, enum and bounds (some real-world ones do not)."""
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or list(_PY))
    if isinstance(node.get("enum"), list) and value not in node["enum"]:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (
            value < node.get("minimum", value) or value > node.get("maximum", value)):
        return False
    if isinstance(value, str) and len(value) < node.get("minLength", 0):
        return False
    if isinstance(value, bool):
        return "boolean" in kinds
    return any(isinstance(value, _PY[k]) for k in kinds if k in _PY)


def defaults(node: Any, path: str = "") -> list[tuple[str, Any, dict[str, Any]]]:
    """(dotted path, default, schema) of every property default of the top-level object."""
    found = []
    for name, sub in ((node or {}).get("properties") or {}).items():
        if isinstance(sub, dict) and "default" in sub and sub["default"] is not None:
            found.append((f"{path}{name}", sub["default"], sub))
    return found


def nested_closed_object(value: Any, node: Any, path: str = "") -> tuple[str, dict[str, Any]] | None:
    """The path and the value of the first object below the top level whose schema lists
    properties and does not allow others: where an unknown key must be refused."""
    if not isinstance(node, dict):
        return None
    if isinstance(value, dict) and path and isinstance(node.get("properties"), dict) and node.get(
            "additionalProperties", False) is False and "patternProperties" not in node:
        return path, value
    if isinstance(value, dict):
        for name, sub in (node.get("properties") or {}).items():
            if name in value:
                found = nested_closed_object(value[name], sub, f"{path}.{name}" if path else name)
                if found:
                    return found
    if isinstance(value, list) and value and isinstance(node.get("items"), dict):
        return nested_closed_object(value[0], node["items"], f"{path}.0")
    return None
