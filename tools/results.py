"""Make a tool's return value safe to store and to show a model.

Three steps, in this order: convert to JSON-compatible data, redact sensitive keys, and
truncate with a visible marker. A falsy value (``0``, ``[]``, ``""``, ``False``) is a
result like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pydantic_core

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
