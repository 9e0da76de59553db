"""The demo provider's answer to an extraction request: a schema filled by simple patterns.

Not a language model: it reads ``key: value`` lines whose key names a property, and finds
emails, phone numbers, ISO dates and URLs for properties named after them. Values are
converted to the property's type; ``N x thing`` lists fill arrays of {text, integer}
objects (order lines). What it cannot find is ``null`` where the schema allows it and left
out otherwise, so the validation that follows says exactly what was missing. The rules are
listed in docs/providers.md ("The demo provider and extraction").
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_URL = re.compile(r"https?://[^\s,;]+")
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _-]{0,40}?)\s*[:=]\s*(.+?)\s*$", re.M)
_ITEM = re.compile(r"^\s*(\d+)\s*(?:x|\u00d7|\*)?\s+(.+?)\s*$", re.I)
_BY_NAME = (("email", _EMAIL), ("phone", _PHONE), ("date", _DATE), ("url", _URL), ("website", _URL))


def fill(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """The object the patterns find in ``text`` for an object ``schema``."""
    lines = {_key(m[1]): m[2] for m in _LINE.finditer(text)}
    required = {r for r in schema.get("required") or [] if isinstance(r, str)}
    out: dict[str, Any] = {}
    properties = schema.get("properties")
    for name, sub in (properties.items() if isinstance(properties, dict) else ()):
        if not isinstance(sub, dict):
            continue  # a boolean subschema: nothing to fill it by
        raw = lines.get(_key(name))
        if raw is None:
            raw = _by_name(name, sub, text)
        value = _convert(sub, raw) if raw is not None else None
        if value is not None:
            out[name] = value
        elif _nullable(sub) or name not in required:
            out[name] = None
    return out


def _key(name: str) -> str:
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def _by_name(name: str, sub: dict[str, Any], text: str) -> str | None:
    lowered = name.lower()
    if sub.get("format") == "date" or (_types(sub) & {"string"} and lowered.endswith("date")):
        found = _DATE.search(text)
        return found[0] if found else None
    for word, pattern in _BY_NAME:
        if word in lowered:
            found = pattern.search(text)
            return found[0].strip() if found else None
    return None


def _types(sub: dict[str, Any]) -> set[str]:
    kinds: set[str] = set()
    for node in [sub, *(sub.get("anyOf") or [])]:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        kinds |= set(kind) if isinstance(kind, list) else ({kind} if isinstance(kind, str) else set())
    return kinds


def _nullable(sub: dict[str, Any]) -> bool:
    return "null" in _types(sub)


def _branch(sub: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an ``anyOf`` (what Optional[...] generates)."""
    for node in sub.get("anyOf") or []:
        if isinstance(node, dict) and node.get("type") != "null":
            return node
    return sub


def _convert(sub: dict[str, Any], raw: str) -> Any:
    node = _branch(sub)
    kinds = _types(node) - {"null"}
    if isinstance(node.get("enum"), list):
        for option in node["enum"]:
            if isinstance(option, str) and option.lower() == raw.strip().lower():
                return option
        return None
    if "integer" in kinds:
        found = re.search(r"-?\d+", raw)
        return int(found[0]) if found else None
    if "number" in kinds:
        found = re.search(r"-?\d+(?:\.\d+)?", raw)
        return float(found[0]) if found else None
    if "boolean" in kinds:
        word = raw.strip().lower()
        return True if word in ("yes", "true", "y") else False if word in ("no", "false", "n") else None
    if "array" in kinds:
        pieces = [p.strip() for p in re.split(r",|;|\band\b", raw) if p.strip()]
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        if _types(items) & {"object"} or "properties" in items:
            return [row for row in (_order_line(items, p) for p in pieces) if row is not None]
        converted = [_convert(items, p) if items else p for p in pieces]
        return [v for v in converted if v is not None]
    if "object" in kinds:
        return fill(node, raw)
    return raw.strip() if "string" in kinds or not kinds else None


def _order_line(items: dict[str, Any], piece: str) -> dict[str, Any] | None:
    """``2 x blue widget`` for an object with one integer and one string property."""
    properties = items.get("properties") if isinstance(items.get("properties"), dict) else {}
    properties = {n: s for n, s in properties.items() if isinstance(s, dict)}
    number = next((n for n, s in properties.items() if _types(_branch(s)) & {"integer", "number"}), None)
    label = next((n for n, s in properties.items() if _types(_branch(s)) & {"string"}), None)
    found = _ITEM.match(piece)
    if number is None or label is None:
        return None
    if found is None:
        return {label: piece, number: 1}
    return {label: found[2], number: int(found[1])}
