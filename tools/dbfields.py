"""Text and JSON model fields that can store any Python string, on every database.

PostgreSQL refuses U+0000 in ``text`` and ``jsonb`` ("PostgreSQL text fields cannot contain
NUL (0x00) bytes"), and no driver can encode a lone surrogate (U+D800 to U+DFFF) as UTF-8.
Either can arrive from outside at any time — in a model's reply or its tool arguments, a
tool's result, an MCP server's description, an imported conversation — and saving it failed
the whole request or run. These fields store each such code point as U+FFFD (the Unicode
replacement character) instead, on SQLite and PostgreSQL alike, so a record is never lost
to one unstorable character.

Where a value is hashed or digested before it is saved (the audit chain, result digests),
the code takes its digest over :func:`storable` of the value, so what is stored still
matches its hash.

The fields deconstruct as Django's own: the columns are unchanged, so they need no
migration, and a migration written against them reads as a plain ``TextField``.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL or a lone surrogate, which no column can store."""
    return _UNSTORABLE.search(text) is not None


def storable(value: Any) -> Any:
    """``value`` with every NUL and lone surrogate in its strings (dictionary keys included)
    replaced by U+FFFD. Returns the very same object when there is nothing to replace,
    which is nearly always, so the common case costs one scan and no copy."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        changed = False
        items = []
        for key, item in value.items():
            new_key, new_item = storable(key), storable(item)
            changed = changed or new_key is not key or new_item is not item
            items.append((new_key, new_item))
        return dict(items) if changed else value
    if isinstance(value, (list, tuple)):
        new = [storable(item) for item in value]
        if any(a is not b for a, b in zip(new, value, strict=True)):
            return new if isinstance(value, list) else tuple(new)
        return value
    return value


class _Storable:
    """Replaces what cannot be stored at the last step before the database, whatever path
    the value took (``save``, ``update``, ``bulk_create``, a lookup)."""

    _stock_path: str

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(storable(value))  # type: ignore[misc]

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        return name, self._stock_path, args, kwargs


class TextField(_Storable, models.TextField):
    _stock_path = "django.db.models.TextField"


class CharField(_Storable, models.CharField):
    _stock_path = "django.db.models.CharField"


class JSONField(_Storable, models.JSONField):
    _stock_path = "django.db.models.JSONField"
