"""Check a hand-written JSON Schema once, fast, and say what is wrong in one dotted path.

Raw definitions (and every MCP server's tools) are checked against the JSON Schema
metaschema when they are registered. ``jsonschema_rs`` does that with a compiled
meta-validator in microseconds (the pure-Python check took about 1.5 ms a schema), and
compiles the schema's own validator in the same pass, so a catalog of thousands of tools
registers in well under a second.

Nothing here ever touches the network: a ``$schema`` other than the standard drafts, and any
``$ref`` that is not local to the schema, are refused instead of fetched.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs

from tools.errors import ToolDefinitionError

_DRAFTS = re.compile(
    r"^https?://json-schema\.org/(draft-0[4-7]/schema|draft/20(19-09|20-12)/schema)#?$"
)
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
# Schema keywords whose children are schemas keyed by property name (so the name is kept).
_BY_NAME = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def _no_remote(uri: str) -> Any:
    raise ToolDefinitionError(f"$ref {uri!r} points outside the schema; only local references are allowed")


def parameter_path(schema_path: list[str | int]) -> str:
    """A location inside a schema as the dotted parameter path it describes:
    ``properties.options.properties.issuer.type`` → ``options.issuer``; array items are
    ``*`` (``items.*.qty``), as they stand for every element."""
    return _split(schema_path)[0]


def _split(schema_path: list[str | int]) -> tuple[str, str]:
    """(the parameter path, the keyword at the end of the location, if any)."""
    parts: list[str] = []
    keyword = ""
    segments = [str(s) for s in schema_path]
    i = 0
    while i < len(segments):
        segment = segments[i]
        keyword = segment
        if segment in _BY_NAME and i + 1 < len(segments):
            parts.append(segments[i + 1] if segment != "$defs" else f"$defs.{segments[i + 1]}")
            keyword = ""
            i += 2
            continue
        if segment in ("items", "additionalProperties", "additionalItems"):
            parts.append("*")
            keyword = ""
        i += 1
    return ".".join(parts), keyword


def _describe(error: Any, keyword: str) -> str:
    value = error.instance
    if keyword == "type":
        return f"'type' must be one of {', '.join(_TYPES)} (or a list of them), got {json.dumps(value)}"
    if keyword == "required":
        return "'required' must be a list of property names"
    if keyword in ("properties", "$defs", "definitions"):
        return f"'{keyword}' must be an object of schemas"
    first = str(error.message).splitlines()[0]
    if not keyword or keyword.isdigit():
        return f"not a valid schema: {first}"
    return f"'{keyword}': {first}"


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "null": (type(None),), "array": (list,), "object": (dict,),
}


def _fits(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _PY_TYPES.get(kind, object))


def _check_enums(node: Any, path: str, depth: int) -> None:
    """Refuse an ``enum`` none of whose values is of the declared type: no argument could
    ever be valid there (``{"type": "array", "enum": ["a", "b"]}`` is seen in the wild).
    Only the keywords that hold schemas are followed: this runs for every definition."""
    if depth > 64 or type(node) is not dict:
        return
    values = node.get("enum")
    if values and type(values) is list and node.get("type") is not None:
        kind = node["type"]
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_fits(v, k) for v in values for k in kinds):
            raise ToolDefinitionError(
                f"invalid JSON schema at {path or 'the top level'}: no 'enum' value is of type "
                f"{' or '.join(map(str, kinds))}, so no argument could ever be valid there"
            )
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if type(children) is dict:
            for name, sub in children.items():
                if type(sub) is dict:
                    prefix = name if key == "properties" else f"{key}.{name}"
                    _check_enums(sub, f"{path}.{prefix}" if path else prefix, depth + 1)
    for key in ("items", "additionalProperties"):
        sub = node.get(key)
        if type(sub) is dict:
            _check_enums(sub, f"{path}.*" if path else "*", depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        subs = node.get(key)
        if type(subs) is list:
            for sub in subs:
                _check_enums(sub, path, depth + 1)


def check(schema: Any) -> Any:
    """Check ``schema`` against its draft's metaschema and compile it.

    Returns the compiled ``jsonschema_rs`` validator; raises :class:`ToolDefinitionError`
    naming the parameter (``invalid JSON schema at options.issuer: ...``).
    """
    if not isinstance(schema, dict):
        raise ToolDefinitionError(f"the schema must be a JSON object, got {type(schema).__name__}")
    declared = schema.get("$schema")
    if declared is not None and not (isinstance(declared, str) and _DRAFTS.match(declared)):
        raise ToolDefinitionError(
            f"unknown '$schema' {declared!r}: use a standard JSON Schema draft (04, 06, 07, 2019-09, "
            "2020-12) or leave '$schema' out"
        )
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as error:
        path, keyword = _split(list(error.instance_path))
        where = f"at {path}" if path else "at the top level"
        raise ToolDefinitionError(f"invalid JSON schema {where}: {_describe(error, keyword)}") from None
    _check_enums(schema, "", 0)
    try:
        return jsonschema_rs.validator_for(schema, retriever=_no_remote)
    except ToolDefinitionError:
        raise
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
        message = str(error).splitlines()[0]
        if "is not present in a registry" in message or "outside the schema" in message:
            uri = message.split("'")[1] if "'" in message else message
            message = f"$ref {uri!r} cannot be resolved: only references inside the schema are allowed"
        raise ToolDefinitionError(f"invalid JSON schema: {message}") from None
