"""Record keeping details: idempotency keys are per user and always fit the column."""

from types import SimpleNamespace

from tools.context import ToolContext
from tools.records import raw_text, scoped_key


def test_idempotency_keys_are_scoped_to_the_user():
    alice, bob = ToolContext(user=SimpleNamespace(pk=1)), ToolContext(user=SimpleNamespace(pk=2))
    assert scoped_key("run:1:call_a", alice) == "1:run:1:call_a"
    assert scoped_key("run:1:call_a", alice) != scoped_key("run:1:call_a", bob)
    assert scoped_key("k", ToolContext()) == "anon:k"
    assert scoped_key(None, alice) is None and scoped_key("", alice) is None


def test_long_idempotency_keys_are_hashed_to_fit_the_column():
    ctx = ToolContext(user=SimpleNamespace(pk=7))
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(scoped_key(long_a, ctx)) <= 255
    assert scoped_key(long_a, ctx).startswith("7:sha256:")
    assert scoped_key(long_a, ctx) != scoped_key(long_b, ctx)


def test_raw_text_keeps_strings_and_encodes_the_rest():
    assert raw_text('{"a": 1}') == '{"a": 1}'
    assert raw_text(None) == ""
    assert raw_text({"a": "é"}) == '{"a": "é"}'
    assert raw_text({"a": object()}).startswith("{'a': <object")
