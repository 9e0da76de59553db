"""The two rules applied to arguments before the schema is checked, at every depth.

1. **Objects are closed.** A key the schema does not list is refused (with its dotted path,
   e.g. ``items.0.colour``) unless the object explicitly allows extra keys
   (``additionalProperties`` other than ``false``, or ``patternProperties``). A nested object
   with no ``properties`` at all is a free-form map (``dict``) and keeps any key; the
   arguments object itself is always closed, since arguments are passed by name.
2. **``null`` for an optional property means "use the default".** OpenAI strict mode makes
   every property required and optional ones nullable, at every level; so a ``null`` for a
   property that is not required and does not itself accept ``null`` is dropped, and the
   tool's default applies (``Item(qty: int = 1)`` given ``{"qty": null}`` gets ``qty=1``).

Both validators (typed functions and raw definitions) call :func:`normalise` with the
tool's JSON Schema, so the two kinds of tool behave alike. Only local ``$ref``
(``#/$defs/...``, ``#/definitions/...``) is followed; the data is copied only where it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MAX_DEPTH = 64  # deeper arguments are left to the schema validator as they are


@dataclass(frozen=True)
class Problem:
    path: str
    problem: str
    got: Any = None
    has_got: bool = True


def join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def normalise(data: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """``data`` with unknown keys and default-meaning nulls removed, and the unknown keys."""
    problems: list[Problem] = []
    out = _walk(data, schema, schema, "", problems, 0, top=True)
    return out, problems


def accepts_null(node: Any, root: dict[str, Any], depth: int = 0) -> bool:
    """Whether ``null`` is valid for this schema node (a cheap, conservative reading)."""
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return True  # ``true``/odd nodes accept anything; the validator has the last word
    node = _resolve(node, root)
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if "enum" in node:
        return None in node["enum"]
    if "const" in node:
        return node["const"] is None
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list) and any(accepts_null(s, root, depth + 1) for s in node[key]):
            return True
    if isinstance(node.get("allOf"), list) and node["allOf"]:
        return all(accepts_null(s, root, depth + 1) for s in node["allOf"])
    return kind is None and not any(key in node for key in ("anyOf", "oneOf", "properties", "items"))


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    for _ in range(8):  # a chain of local references, never a cycle
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return node
        target: Any = root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return node
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}} if len(node) > 1 else target
    return node


def _branch(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The one non-null alternative of an ``anyOf``/``oneOf`` (``Optional[Item]``), if any."""
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list):
            real = [o for o in options
                    if not (isinstance(o, dict) and _resolve(o, root).get("type") == "null")]
            return real[0] if len(real) == 1 and isinstance(real[0], dict) else None
    return None


def _properties(node: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], set[str], bool] | None:
    """(properties, required, closed) of an object node, merging ``allOf`` members."""
    members = [node] + [_resolve(m, root) for m in node.get("allOf", []) if isinstance(m, dict)]
    if not any("properties" in m or m.get("type") == "object" for m in members):
        return None
    properties: dict[str, Any] = {}
    required: set[str] = set()
    has_properties, opened = False, False
    for member in members:
        if isinstance(member.get("properties"), dict):
            has_properties = True
            properties.update(member["properties"])
        if isinstance(member.get("required"), list):
            required.update(r for r in member["required"] if isinstance(r, str))
        extra = member.get("additionalProperties", False if "additionalProperties" in member else None)
        if extra not in (None, False) or "patternProperties" in member or "unevaluatedProperties" in member:
            opened = True
    return properties, required, not opened and has_properties


def _walk(value: Any, node: Any, root: dict[str, Any], path: str, problems: list[Problem], depth: int,
          *, top: bool = False) -> Any:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return value
    node = _resolve(node, root)
    if isinstance(value, dict):
        shape = _properties(node, root)
        if shape is None:
            branch = _branch(node, root)
            return _walk(value, branch, root, path, problems, depth + 1) if branch is not None else value
        properties, required, closed = shape
        closed = closed or (top and not properties and "additionalProperties" not in node
                            and "patternProperties" not in node)
        extra = node.get("additionalProperties")
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if key in properties:
                sub = properties[key]
                if item is None and key not in required and not accepts_null(sub, root):
                    new: Any = _DROP
                else:
                    new = _walk(item, sub, root, join(path, key), problems, depth + 1)
            elif closed:
                problems.append(Problem(join(path, key), "is not an accepted argument", item))
                new = _DROP
            else:
                new = _walk(item, extra, root, join(path, key), problems, depth + 1)
            if new is not item and out is None:
                out = {k: value[k] for k in list(value)[: list(value).index(key)]}
            if out is not None and new is not _DROP:
                out[key] = new
        return value if out is None else out
    if isinstance(value, list):
        items = node.get("items")
        if not isinstance(items, dict):
            branch = _branch(node, root)
            return _walk(value, branch, root, path, problems, depth + 1) if branch is not None else value
        changed = [_walk(item, items, root, join(path, i), problems, depth + 1)
                   for i, item in enumerate(value)]
        return value if all(a is b for a, b in zip(changed, value, strict=True)) else changed
    return value


_DROP: Any = object()
