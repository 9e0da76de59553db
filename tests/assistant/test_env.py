import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.env import env_bool, env_float, env_int, env_list, env_str


def test_env_bool_accepts_the_usual_spellings(monkeypatch):
    for value, expected in [("1", True), ("TRUE", True), ("yes", True), ("on", True),
                            ("0", False), ("false", False), ("No", False), ("off", False)]:
        monkeypatch.setenv("X_FLAG", value)
        assert env_bool("X_FLAG", not expected) is expected


def test_env_bool_rejects_maybe_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG must be a boolean .* got 'maybe'"):
        env_bool("DJANGO_DEBUG", False)


def test_unset_or_blank_variables_use_the_default(monkeypatch):
    monkeypatch.delenv("X_UNSET", raising=False)
    monkeypatch.setenv("X_BLANK", "  ")
    assert env_bool("X_UNSET", True) is True
    assert env_int("X_BLANK", 7) == 7
    assert env_str("X_UNSET", "d") == "d"
    assert env_list("X_UNSET", ["a"]) == ["a"]


def test_env_int_rejects_text_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be an integer, got 'ten'"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be >= 1, got 0"):
        env_int("X_INT", 1, minimum=1)


def test_env_float_parses_and_validates(monkeypatch):
    monkeypatch.setenv("X_FLOAT", "2.5")
    assert env_float("X_FLOAT", 1.0) == 2.5
    monkeypatch.setenv("X_FLOAT", "fast")
    with pytest.raises(ImproperlyConfigured, match="X_FLOAT must be a number"):
        env_float("X_FLOAT", 1.0)


def test_env_list_splits_on_commas_and_drops_empty_items(monkeypatch):
    monkeypatch.setenv("X_LIST", "a.com, b.org,,")
    assert env_list("X_LIST") == ["a.com", "b.org"]
