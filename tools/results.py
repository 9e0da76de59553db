"""Make a tool's return value safe to store and to show a model.

Three steps, in this order: convert to JSON-compatible data, redact sensitive keys, and
truncate with a visible marker. A falsy value (``0``, ``[]``, ``""``, ``False``) is a
result like any other.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import pydantic_core
from django.conf import settings

REDACTED = "[REDACTED]"
_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


class NotSerialisable(TypeError):
    pass


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, datetimes, Decimals, UUIDs, enums and sets become JSON data."""
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as exc:
        raise NotSerialisable(
            f"the tool returned a value that cannot be converted to JSON ({type(value).__name__}): {exc}"
        ) from None


def _words(key: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD_RE.findall(key))


class Redactor:
    """Redacts values under sensitive keys, recursively.

    A key is sensitive when its words end with the words of a listed key: with ``token``
    listed, ``token``, ``github_token`` and ``accessToken`` are redacted but ``tokens_used``
    is not; with ``api_key`` listed, ``apiKey`` and ``OPENAI-API-KEY`` are.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._patterns = {_words(k) for k in keys if _words(k)}

    def is_sensitive(self, key: str) -> bool:
        words = _words(key)
        return any(words[-len(p):] == p for p in self._patterns if len(p) <= len(words))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (REDACTED if isinstance(k, str) and self.is_sensitive(k) else self(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


@functools.lru_cache(maxsize=8)
def _redactor_for(keys: tuple[str, ...]) -> Redactor:
    return Redactor(keys)


def redactor() -> Redactor:
    """The redactor for the current ``settings.TOOLS_SENSITIVE_KEYS`` (read at call time)."""
    return _redactor_for(tuple(settings.TOOLS_SENSITIVE_KEYS))


# A JSON "key": value pair in text that may not parse (a value may be cut off mid-string).
_PAIR_RE = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)')


def redact_text(raw: str, redact: Redactor) -> str:
    """The model's raw argument text with sensitive values redacted.

    Text that parses as JSON is redacted structurally (and re-encoded only if something was
    redacted, so it is otherwise stored exactly as sent); text that does not parse gets a
    best-effort pass over its ``"key": value`` pairs.
    """
    if not raw:
        return raw
    try:
        data = json.loads(raw)
    except ValueError:
        return _PAIR_RE.sub(
            lambda m: f'"{m[1]}"{m[2]}"{REDACTED}"' if redact.is_sensitive(m[1]) else m[0], raw
        )
    cleaned = redact(data)
    return raw if cleaned == data else json.dumps(cleaned, ensure_ascii=False)


def redact_error(error: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    """An error body with the ``got`` of any detail about a sensitive argument redacted."""
    details = error.get("details")
    if not details:
        return error
    cleaned = []
    for detail in details:
        last = str(detail.get("path", "")).rsplit(".", 1)[-1]
        if "got" in detail and last and redact.is_sensitive(last):
            detail = {**detail, "got": REDACTED}
        cleaned.append(detail)
    return {**error, "details": cleaned}


def restore_redacted(edited: Any, original: Any) -> Any:
    """``edited`` with every ``"[REDACTED]"`` put back to the value ``original`` holds there.

    An approver edits the redacted arguments they were shown; the secrets they could not
    see must not be replaced by the marker when the call runs.
    """
    if isinstance(edited, dict) and isinstance(original, dict):
        return {
            k: original[k] if v == REDACTED and k in original else restore_redacted(v, original.get(k))
            for k, v in edited.items()
        }
    if isinstance(edited, list) and isinstance(original, list) and len(edited) == len(original):
        return [restore_redacted(e, o) for e, o in zip(edited, original, strict=True)]
    return edited


def truncate(value: Any, max_chars: int) -> tuple[Any, bool]:
    """Return ``value`` unchanged if its JSON fits, else a marked, truncated JSON text."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= max_chars:
        return value, False
    cut = len(text) - max_chars
    return {
        "truncated": True,
        "total_chars": len(text),
        "content": f"{text[:max_chars]}… [truncated {cut} characters]",
    }, True
