"""The security settings read from the environment (assistant/security/config.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.security.config import content_security_policy, lockout_parameters


def test_lockout_by_lists_separate_counters_and_plus_combines_them():
    assert lockout_parameters(["username", "ip_address"]) == ["username", "ip_address"]
    combined = lockout_parameters(["username+ip_address", "ip_address"])
    assert combined == [["username", "ip_address"], "ip_address"]


@pytest.mark.parametrize("values, message", [
    (["user"], "LOGIN_LOCKOUT_BY items must be username, ip_address or a '+' combination of them, "
               "got 'user'"),
    (["username+cookie"], "got 'username+cookie'"),
    (["username"], "LOGIN_LOCKOUT_BY must count the client address (ip_address), got 'username'"),
])
def test_a_bad_lockout_by_stops_start_up_naming_the_variable(values, message):
    with pytest.raises(ImproperlyConfigured) as caught:
        lockout_parameters(values)
    assert message in str(caught.value)


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere():
    directives = content_security_policy(https=False)["DIRECTIVES"]
    sources = {source for values in directives.values() if isinstance(values, list) for source in values}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "https:", "http:"} & sources
    assert directives["default-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert "upgrade-insecure-requests" not in directives
    secure = content_security_policy(https=True, report_uri="https://reports.example.com/csp")["DIRECTIVES"]
    assert secure["upgrade-insecure-requests"] is True
    assert secure["report-uri"] == ["https://reports.example.com/csp"]
