"""Make a tool's return value safe to store and to show a model.

Three steps, in this order: convert to JSON-compatible data, redact sensitive keys, and
truncate with a visible marker. A falsy value (``0``, ``[]``, ``""``, ``False``) is a
result like any other.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # the C one
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


_SLICE = 1 << 16  # long strings are measured this many characters at a time


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key)


def _str_size(text: str) -> tuple[int, int]:
    """(characters, UTF-8 bytes) of ``text`` as a JSON string, quotes included. A long
    string is escaped a slice at a time, so measuring it never copies it whole."""
    if len(text) > _SLICE:
        chars = size = 2
        for start in range(0, len(text), _SLICE):
            more_chars, more_bytes = _str_size(text[start:start + _SLICE])
            chars, size = chars + more_chars - 2, size + more_bytes - 2
        return chars, size
    escaped = encode_basestring(text)
    return len(escaped), len(escaped) if escaped.isascii() else len(escaped.encode("utf-8", "surrogatepass"))


def json_size(value: Any) -> tuple[int, int]:
    """(characters, UTF-8 bytes) of ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))``, computed without building that text."""
    chars, size, _ = _measure(value)
    return chars, size


def stored_bytes(value: Any) -> int:
    """UTF-8 bytes of ``json.dumps(value, ensure_ascii=False)`` — with the space after every
    separator, as the database, the model and the browser get it — without building it."""
    _, size, separators = _measure(value)
    return size + separators


def _measure(value: Any) -> tuple[int, int, int]:
    """(characters, bytes, separators) of the compact JSON text of ``value``."""
    if isinstance(value, str):
        return (*_str_size(value), 0)
    if isinstance(value, dict):
        chars = size = 1 + max(len(value), 1)  # braces and commas
        separators = 2 * len(value) - 1 if value else 0
        for key, item in value.items():
            key_chars, key_bytes = _str_size(_key(key))
            item_chars, item_bytes, item_separators = _measure(item)
            chars, size = chars + key_chars + 1 + item_chars, size + key_bytes + 1 + item_bytes
            separators += item_separators
        return chars, size, separators
    if isinstance(value, list | tuple):
        chars = size = 1 + max(len(value), 1)
        separators = max(len(value) - 1, 0)
        for item in value:
            item_chars, item_bytes, item_separators = _measure(item)
            chars, size, separators = chars + item_chars, size + item_bytes, separators + item_separators
        return chars, size, separators
    text = json.dumps(value)  # a number, a boolean or null
    return len(text), len(text), 0


def _chunks(value: Any, clip: int) -> Iterator[str]:
    """The JSON text of ``value`` in pieces, with every string cut to ``clip`` characters.

    Each character takes at least one in JSON, so the first ``clip - 1`` characters of the
    result are exactly those of the whole text; the caller stops reading once it has them.
    """
    if isinstance(value, str):
        yield encode_basestring(value[:clip])
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield f"{',' if index else ''}{encode_basestring(_key(key)[:clip])}:"
            yield from _chunks(item, clip)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _chunks(item, clip)
        yield "]"
    else:
        yield json.dumps(value)


def json_prefix(value: Any, chars: int) -> str:
    """The first ``chars`` characters of the JSON text of ``value``, without building the rest."""
    pieces, have = [], 0
    for piece in _chunks(value, chars + 1):
        pieces.append(piece)
        have += len(piece)
        if have >= chars:
            break
    return "".join(pieces)[:chars]


def _at_least(value: Any, limit: int) -> int:
    """A lower bound on the length of ``value``'s JSON text; stops counting past ``limit``.

    Runs for every result, so scalars inside containers are counted inline rather than by
    a call each."""
    kind = type(value)
    if kind is str:
        return len(value) + 2
    items: Iterable[Any]
    if kind is dict:  # the keys first (each with its quotes, colon and comma), then the values
        total = 1
        for key in value:
            total += (len(key) if type(key) is str else 1) + 4
            if total > limit:
                return total
        items = value.values()
    elif kind is list or kind is tuple:
        total, items = 1 + len(value), value  # the brackets and a comma each
    elif isinstance(value, str | dict | list | tuple):  # subclasses: the general case
        return _at_least(str(value) if isinstance(value, str) else
                         (dict(value) if isinstance(value, dict) else list(value)), limit)
    else:
        return 1
    for item in items:
        item_kind = type(item)
        if item_kind is str:
            total += len(item) + 2
        elif item_kind is dict or item_kind is list or item_kind is tuple:
            total += _at_least(item, limit - total)
        else:
            total += 1
        if total > limit:
            break
    return total


def _fits_bytes(value: Any, compact: str, max_bytes: int) -> bool:
    """Is :func:`stored_bytes` of ``value`` at most ``max_bytes``, given its compact JSON?"""
    size = len(compact) if compact.isascii() else len(compact.encode("utf-8", "surrogatepass"))
    if 2 * size <= max_bytes:  # a space after every separator at most doubles it
        return True
    if size > max_bytes:
        return False
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")) <= max_bytes


def truncate(value: Any, max_chars: int, max_bytes: int | None = None) -> tuple[Any, bool]:
    """Return ``value`` unchanged if its JSON text fits, else a marked, truncated JSON text.

    "Fits" means at most ``max_chars`` characters of compact JSON and, if given, at most
    ``max_bytes`` bytes as :func:`stored_bytes` counts them. The marker — ``{"truncated":
    true, "total_chars": N, "content": "…"}`` — is itself at most ``max_bytes`` bytes (its
    content is cut shorter if escaping or multi-byte characters would take it over).

    A tool may return something huge, so the value's whole JSON text is built only when a
    quick lower bound shows it is within a few times the limits (then the C encoder is the
    fastest way to measure it); a larger value is measured a piece at a time and only the
    prefix the marker shows is built.
    """
    ceiling = max(max_chars, max_bytes or 0)
    if _at_least(value, ceiling) <= ceiling:
        # Not huge (its JSON is at most a few times the ceiling): the C encoder is faster
        # than measuring in Python, and the text it builds is bounded.
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        total_chars = len(text)
        if total_chars <= max_chars and (max_bytes is None or _fits_bytes(value, text, max_bytes)):
            return value, False
    else:
        total_chars, total_bytes, separators = _measure(value)
        if total_chars <= max_chars and (max_bytes is None or total_bytes + separators <= max_bytes):
            return value, False
        text = json_prefix(value, min(max_chars, total_chars))
    shown = min(max_chars, total_chars)
    while True:
        marker = {
            "truncated": True,
            "total_chars": total_chars,
            "content": f"{text[:shown]}… [truncated {total_chars - shown} characters]",
        }
        excess = 0 if max_bytes is None else stored_bytes(marker) - max_bytes
        if excess <= 0 or shown == 0:
            return marker, True
        size = max_bytes + excess  # type: ignore[operator]
        shown = max(0, min(shown - 1, shown * max_bytes // size))  # type: ignore[operator]
