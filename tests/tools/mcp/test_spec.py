"""Server configuration checks (tools.mcp.spec): bad settings get a message naming them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tools.mcp.spec import SpecError, spec_from_server


def server(**fields):
    base = dict(name="srv", transport="stdio", command="run-it", args=[], url="", env_vars=[], headers={},
                enabled=True, call_timeout=30.0, default_risk="", generation=0)
    return SimpleNamespace(**{**base, **fields})


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"name": "a__b"}, "name", "no '__'"),
    ({"name": "has space"}, "name", "invalid"),
    ({"name": "x" * 31}, "name", "1-30"),
    ({"command": ""}, "command", "needs a command"),
    ({"env_vars": ["OK", "not-a-var"]}, "env_vars", "'not-a-var' is not an environment variable name"),
    ({"headers": {"Authorization": "TOKEN"}}, "headers", "stdio server"),
    ({"transport": "http", "command": "", "url": "ftp://x"}, "url", "not an http(s) URL"),
    ({"transport": "http", "command": "", "url": "https://u:p@host/mcp"}, "url", "credentials"),
    ({"transport": "http", "command": "", "url": "https://h/mcp", "headers": {"X-Key": "sk-live-123"}},
     "headers", "not an environment variable name"),
    ({"transport": "http", "command": "", "url": "https://h/mcp", "env_vars": ["A"]}, "env_vars", "stdio"),
    ({"call_timeout": 0}, "call_timeout", "> 0"),
    ({"transport": "carrier-pigeon"}, "transport", "unknown transport"),
])
def test_a_bad_setting_is_refused_with_its_name(fields, field, words):
    with pytest.raises(SpecError) as caught:
        spec_from_server(server(**fields), group_ids=frozenset())
    assert caught.value.field == field and words in str(caught.value)


def test_a_secret_value_pasted_as_a_header_is_refused_so_it_is_never_stored():
    with pytest.raises(SpecError):
        spec_from_server(server(transport="http", command="", url="https://h/mcp",
                                headers={"Authorization": "Bearer abc"}), group_ids=frozenset())
