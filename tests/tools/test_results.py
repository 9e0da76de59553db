"""Return values become JSON, lose their secrets and fit in the model's context."""

import collections
import datetime
import enum
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from pydantic import BaseModel

from tools.results import (
    REDACTED,
    NotSerialisable,
    Redactor,
    json_prefix,
    json_size,
    redact_error,
    redact_text,
    redactor,
    restore_redacted,
    stored_bytes,
    to_jsonable,
    truncate,
)
from tools.results import _at_least as _at_least  # the quick bound truncate() chooses by


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    y: int


class Reading(BaseModel):
    at: datetime.datetime
    value: Decimal


def test_rich_values_become_json_data():
    value = {
        "point": Point(1, 2),
        "reading": Reading(at=datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC), value=Decimal("1.50")),
        "day": datetime.date(2024, 5, 1),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "amount": Decimal("3.10"),
        "colour": Colour.RED,
        "tags": {"only"},
        "pair": (1, 2),
    }
    assert to_jsonable(value) == {
        "point": {"x": 1, "y": 2},
        "reading": {"at": "2024-05-01T12:00:00Z", "value": "1.50"},
        "day": "2024-05-01",
        "id": "12345678-1234-5678-1234-567812345678",
        "amount": "3.10",
        "colour": "red",
        "tags": ["only"],
        "pair": [1, 2],
    }


def test_unserialisable_value_raises_a_clear_error():
    with pytest.raises(NotSerialisable, match=r"cannot be converted to JSON \(dict\)"):
        to_jsonable({"handle": object()})


@pytest.mark.parametrize("value", [0, 0.0, "", [], {}, False, None])
def test_falsy_values_pass_through_unchanged(value):
    assert to_jsonable(value) == value
    assert truncate(value, 100) == (value, False)


def test_sensitive_keys_are_redacted_recursively():
    redact = Redactor(["password", "api_key", "token"])
    value = {
        "user": "alice",
        "password": "hunter2",
        "nested": {"apiKey": "sk-1", "items": [{"github_token": "ghp"}, {"ok": 1}]},
        "OPENAI-API-KEY": "sk-2",
        "tokens_used": 12,
        "max_tokens": 100,
        "password_hint": "pet's name",
    }
    assert redact(value) == {
        "user": "alice",
        "password": REDACTED,
        "nested": {"apiKey": REDACTED, "items": [{"github_token": REDACTED}, {"ok": 1}]},
        "OPENAI-API-KEY": REDACTED,
        "tokens_used": 12,
        "max_tokens": 100,
        "password_hint": "pet's name",
    }


def test_a_redacted_value_is_replaced_whole_even_if_it_is_a_structure():
    assert Redactor(["secret"])({"client_secret": {"a": 1}}) == {"client_secret": REDACTED}


def test_redactor_reads_the_setting_at_call_time(settings):
    settings.TOOLS_SENSITIVE_KEYS = ["colour"]
    assert redactor()({"favourite_colour": "red", "password": "x"}) == {
        "favourite_colour": REDACTED, "password": "x",
    }


def test_redact_text_redacts_json_and_keeps_clean_text_byte_for_byte():
    redact = Redactor(["password"])
    clean = '{"user" :  "alice"}'
    assert redact_text(clean, redact) == clean
    assert json.loads(redact_text('{"user": "a", "db": {"password": "pw"}}', redact)) == {
        "user": "a", "db": {"password": REDACTED},
    }


def test_redact_text_scrubs_unparseable_json_as_best_it_can():
    redact = Redactor(["password", "token"])
    text = '{"user": "a", "password": "hunter2", "token": 12345, "note": "unterminated'
    scrubbed = redact_text(text, redact)
    assert "hunter2" not in scrubbed and "12345" not in scrubbed
    assert '"user": "a"' in scrubbed and '"password": "[REDACTED]"' in scrubbed
    assert redact_text('{"password": "cut off mid-val', redact) == '{"password": "[REDACTED]"'


def test_redact_error_hides_got_for_sensitive_paths_only():
    error = {"type": "validation_error", "message": "m", "details": [
        {"path": "auth.password", "problem": "too short", "got": "pw"},
        {"path": "user", "problem": "bad", "got": 1},
        {"path": "token", "problem": "is required"},
    ]}
    assert redact_error(error, Redactor(["password", "token"]))["details"] == [
        {"path": "auth.password", "problem": "too short", "got": REDACTED},
        {"path": "user", "problem": "bad", "got": 1},
        {"path": "token", "problem": "is required"},
    ]


def test_restore_redacted_puts_back_only_the_markers():
    original = {"to": "a@example.com", "smtp": {"password": "pw", "host": "h"}, "list": [{"token": "t"}]}
    edited = {"to": "b@example.com", "smtp": {"password": REDACTED, "host": "h2"},
              "list": [{"token": REDACTED}]}
    assert restore_redacted(edited, original) == {
        "to": "b@example.com", "smtp": {"password": "pw", "host": "h2"}, "list": [{"token": "t"}],
    }
    assert restore_redacted({"new": REDACTED}, original) == {"new": REDACTED}


def test_short_values_are_not_truncated():
    assert truncate({"a": "x" * 10}, 100) == ({"a": "x" * 10}, False)


def test_long_values_are_truncated_with_a_visible_marker():
    value = {"text": "y" * 500}
    out, truncated = truncate(value, 100)
    total = len(json.dumps(value, separators=(",", ":")))
    assert truncated is True
    assert out["truncated"] is True and out["total_chars"] == total
    assert out["content"].startswith('{"text":"yyy')
    assert out["content"].endswith(f"… [truncated {total - 100} characters]")
    assert len(out["content"]) == 100 + len(f"… [truncated {total - 100} characters]")


def test_truncation_counts_characters_not_bytes():
    value = "é" * 50
    assert truncate(value, 52) == (value, False)  # 50 characters plus two quotes


@pytest.mark.parametrize("value", [
    "plain", 'q"\\\n\x01é😀', {"a": [1, 2.5, None, True, False, {"b": "c"}], 1: "x", "k": {}},
    [], {}, [[[]]], float("inf"), "x" * 200_000 + '"' * 70_000 + "é",
])
def test_sizes_and_prefixes_match_json_dumps_without_building_the_text(value):
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert json_size(value) == (len(compact), len(compact.encode()))
    assert stored_bytes(value) == len(json.dumps(value, ensure_ascii=False).encode())
    for chars in (0, 1, 7, len(compact) // 2, len(compact)):
        assert json_prefix(value, chars) == compact[:chars]


@pytest.mark.parametrize(("value", "exact"), [
    ({"ab": "cd", "x": ["e", "fg", ("h", {"i": ""})]}, True),  # strings only: the bound is the length
    ({"a": [1, 2.5, None, True, {"b": "c"}], 1: "x", "k": {}}, False),
    ([["é😀", "a"], ("b",)], True),
    ([[[]], (), {}], False),  # an empty container counts one character of its two
    (collections.OrderedDict(a=["b", collections.UserString("c")]), False),  # subclasses
])
def test_the_quick_size_bound_is_a_lower_bound_of_the_json_length(value, exact):
    compact = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
    bound = _at_least(value, 10**9)
    assert bound == compact if exact else 0 < bound < compact


def test_the_quick_size_bound_stops_counting_past_its_limit():
    huge = {f"key{i}": ["x" * 10] * 10 for i in range(100_000)}
    assert 100 < _at_least(huge, 100) < 1_000  # a few keys and values in, not 100,000
    assert _at_least([["x" * 10] * 10] + [huge] * 100_000, 100) > 100  # the commas alone
    assert _at_least({"k" * 200: 1}, 100) > 100


@pytest.mark.parametrize("text", ['"' * 50_000, "\x01" * 50_000, "😀" * 50_000, "x" * 1_000_000])
def test_the_marker_itself_fits_the_byte_limit_whatever_the_text(text):
    out, truncated = truncate({"t": text}, 20_000, 10_000)
    assert truncated is True
    assert 9_000 < len(json.dumps(out, ensure_ascii=False).encode()) <= 10_000
    cut = int(re.search(r"… \[truncated (\d+) characters\]$", out["content"])[1])
    shown = out["total_chars"] - cut
    assert shown > 1_000
    assert out["content"] == json_prefix({"t": text}, shown) + f"… [truncated {cut} characters]"


def test_a_value_within_the_characters_but_over_the_bytes_is_truncated():
    value = "é" * 50
    assert truncate(value, 52, 102) == (value, False)  # two bytes a character, and two quotes
    assert truncate(value, 52, 101)[1] is True


@pytest.mark.parametrize("value", [{"text": "y" * 500}, ['"' * 40, "é😀\n" * 30], {"rows": [[1, "a"]] * 50}])
def test_small_and_huge_values_are_cut_the_same_way(value):
    # A high byte ceiling takes the C encoder's path; without one, past 100 characters the
    # value counts as huge and is measured a piece at a time. The markers must agree.
    assert truncate(value, 100, 10**9) == truncate(value, 100)
