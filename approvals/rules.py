"""Evaluating one policy-rule condition against one argument value.

Kept free of the ORM so every operator can be tested on plain values.
"""

from __future__ import annotations

import re
from typing import Any

from approvals.models.policy import MISSING


def _items(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _emails(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def evaluate(operator: str, expected: str, actual: Any) -> bool:
    if operator == "present":
        return actual is not MISSING and actual is not None
    if actual is MISSING:
        return False
    if operator in ("gt", "gte", "lt", "lte"):
        number = _number(actual)
        if number is None:
            return False
        limit = float(expected)
        return {"gt": number > limit, "gte": number >= limit, "lt": number < limit,
                "lte": number <= limit}[operator]
    text = actual if isinstance(actual, str) else None
    if operator == "eq":
        return str(actual).lower() == expected.lower() if text is not None else str(actual) == expected
    if operator == "ne":
        return not evaluate("eq", expected, actual)
    if operator == "in":
        return str(actual).lower() in _items(expected)
    if operator == "not_in":
        return str(actual).lower() not in _items(expected)
    if operator == "contains":
        return expected.lower() in (text or "").lower() or (
            isinstance(actual, list) and any(expected.lower() == str(i).lower() for i in actual))
    if operator == "mentions":
        return re.search(rf"(?<![\w$]){re.escape(expected)}(?![\w$])", text or "", re.IGNORECASE) is not None
    if operator == "matches":
        return re.search(expected, text or "") is not None
    if operator == "email_outside":
        domains = _items(expected)
        return any(address.rsplit("@", 1)[-1].lower() not in domains for address in _emails(actual))
    raise ValueError(f"unknown rule operator {operator!r}")
