"""OpenAI's documented rules for strict-mode schemas, written independently of tools.strict.

From the Structured Outputs guide ("Supported schemas"): the root is an object, not anyOf;
every object has ``additionalProperties: false`` and lists every property in ``required``;
types are string, number, integer, boolean, object, array, enum and anyOf (null in a type
list or a branch); the supported keywords per type are the ones below; arrays have
``items``; ``$ref`` points at ``$defs``/``definitions`` or ``#``; at most 5,000 properties,
10 levels of nesting and 1,000 enum values, and at most 120,000 characters of property
names, definition names, enum and const values. Used by the tests to check what the
exporter produces, so a mistake in the exporter cannot hide behind itself.
"""

from __future__ import annotations

from typing import Any

TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
COMMON = {"type", "description", "enum", "const", "anyOf", "$ref", "$defs", "definitions"}
PER_TYPE = {
    "string": {"pattern", "format"},
    "number": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "integer": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(), "null": set(),
}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
PY = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None)}


def strict_problems(schema: Any) -> list[str]:
    """Every way ``schema`` breaks the rules; empty when OpenAI would accept it as strict."""
    problems: list[str] = []
    totals = {"properties": 0, "enum": 0, "chars": 0}
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        return ["the root must be an object schema, not a union"]
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            totals["chars"] += len(name)
            _check(sub, f"{key}.{name}", 1, schema, problems, totals)
    _check(schema, "", 1, schema, problems, totals)
    if totals["properties"] > 5000:
        problems.append("more than 5000 properties")
    if totals["enum"] > 1000:
        problems.append("more than 1000 enum values")
    if totals["chars"] > 120_000:
        problems.append("more than 120000 characters of names and values")
    return problems


def _check(node: Any, path: str, depth: int, root: dict, problems: list[str], totals: dict) -> None:
    if depth > 10:
        problems.append(f"{path}: nested deeper than 10")
        return
    if not isinstance(node, dict):
        problems.append(f"{path}: not a schema object")
        return
    if "$ref" in node:
        ref = node["$ref"]
        target: Any = root
        for part in ref.lstrip("#").split("/")[1:]:
            target = target.get(part) if isinstance(target, dict) else None
        if not (ref == "#" or isinstance(target, dict)):
            problems.append(f"{path}: $ref {ref} does not resolve inside the schema")
        return
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds is None and not any(k in node for k in ("anyOf", "enum", "const")):
        problems.append(f"{path}: no type")
        return
    allowed = set(COMMON)
    for kind in kinds or TYPES:
        if kind not in TYPES:
            problems.append(f"{path}: unknown type {kind}")
            return
        allowed |= PER_TYPE[kind]
    for key in node:
        if key not in allowed:
            problems.append(f"{path}: keyword {key} not supported")
    if node.get("format") is not None and node["format"] not in FORMATS:
        problems.append(f"{path}: format {node['format']} not supported")
    values = list(node.get("enum") or []) + ([node["const"]] if "const" in node else [])
    totals["enum"] += len(node.get("enum") or [])
    for value in values:
        totals["chars"] += len(str(value))
        if kinds and not any(_is(value, kind) for kind in kinds):
            problems.append(f"{path}: enum value {value!r} not of type {kinds}")
    for sub in node.get("anyOf") or []:
        _check(sub, path, depth, root, problems, totals)
    if kinds and "array" in kinds:
        if "items" not in node:
            problems.append(f"{path}: array without items")
        else:
            _check(node["items"], f"{path}.*", depth + 1, root, problems, totals)
    if kinds and "object" in kinds:
        properties = node.get("properties")
        if not isinstance(properties, dict):
            problems.append(f"{path}: object without properties")
            return
        if node.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties is not false")
        if set(node.get("required") or []) != set(properties):
            problems.append(f"{path}: not every property is required")
        for name, sub in properties.items():
            totals["properties"] += 1
            totals["chars"] += len(name)
            _check(sub, f"{path}.{name}" if path else name, depth + 1, root, problems, totals)


def _is(value: Any, kind: str) -> bool:
    if kind in ("array", "object"):
        return False
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, PY[kind])
