"""Security settings built from the environment: the CSP directives and axes' lockout keys.

Loaded by assistant/settings.py before Django is set up, so nothing here touches models.
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

LOCKOUT_KEYS = ("username", "ip_address")


def lockout_parameters(values: list[str]) -> list[str | list[str]]:
    """``LOGIN_LOCKOUT_BY`` as axes' ``AXES_LOCKOUT_PARAMETERS``.

    Each comma-separated item is counted on its own (``username,ip_address``: a name is
    locked after N failures from anywhere, an address after N failures on any names);
    ``username+ip_address`` counts the pair together instead. The address must be part of
    the setting: counting names alone lets one address try every name in turn.
    """
    parameters: list[str | list[str]] = []
    for value in values:
        parts = [part.strip() for part in value.split("+")]
        unknown = [part for part in parts if part not in LOCKOUT_KEYS]
        if unknown or not parts:
            raise ImproperlyConfigured(
                f"LOGIN_LOCKOUT_BY items must be {', '.join(LOCKOUT_KEYS)} or a '+' combination of "
                f"them, got {value!r}")
        parameters.append(parts[0] if len(parts) == 1 else parts)
    if not any(p == "ip_address" or (isinstance(p, list) and "ip_address" in p) for p in parameters):
        raise ImproperlyConfigured(
            f"LOGIN_LOCKOUT_BY must count the client address (ip_address), got {','.join(values)!r}")
    return parameters


def content_security_policy(*, https: bool, report_uri: str | None = None) -> dict[str, Any]:
    """django-csp's ``CONTENT_SECURITY_POLICY``: everything from this site only, nothing inline.

    ``default-src 'none'`` so anything not listed (frames, media, workers, plugins) is
    refused; ``img-src`` also allows ``data:`` (the admin's and Swagger UI's icons). The
    nonce is added to ``script-src``/``style-src`` only on responses whose template asked
    for one (``{{ CSP_NONCE }}``); none does today.
    """
    directives: dict[str, Any] = {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # CSP Level 3: 'self' also matches ws:/wss: to this host
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
    if https:
        directives["upgrade-insecure-requests"] = True
    if report_uri:
        directives["report-uri"] = [report_uri]
    return {"DIRECTIVES": directives}
