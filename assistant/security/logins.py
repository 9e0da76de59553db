"""Login throttling on top of django-axes: refuse, log and count failed sign-ins.

axes records every failed ``authenticate()`` (the site's login form and the admin's both
call it) against the username and the client address separately (``LOGIN_LOCKOUT_BY``).
Once either has ``LOGIN_FAILURE_LIMIT`` failures within ``LOGIN_COOLOFF_SECONDS``, its
backend (first in ``AUTHENTICATION_BACKENDS``) refuses further attempts before any
password is checked, and :func:`lockout_response` answers them with a 429 page.

This module adds what operators need around that: one log line per failed attempt and per
lockout, and the ``toolgate_login_failures_total`` / ``toolgate_login_lockouts_total``
counters. API tokens and WebSockets never call ``authenticate()``: they are not throttled
here and cannot lock anyone out.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from assistant.ops import metrics

logger = logging.getLogger(__name__)

REFUSED = "toolgate_login_refused"  # request attribute: axes refused it, the password was not checked
MAX_LOGGED_USERNAME = 150  # what a user typed: bounded, like Django's own username field


class ThrottleBackend(AxesStandaloneBackend):
    """axes' backend, marking the requests it refuses so they are logged and counted as such."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> None:
        try:
            return super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, REFUSED, True)
            raise


def login_site(request: HttpRequest | None) -> str:
    """``admin`` for the admin's login, ``site`` for every other (a bounded metrics label)."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.namespace == "admin":
        return "admin"
    return "site"


def _fields(request: HttpRequest | None, credentials: dict[str, Any] | None) -> dict[str, Any]:
    username = get_client_username(request, credentials) if request is not None else None
    return {
        "event": "",
        "login_site": login_site(request),
        "username": (username or "")[:MAX_LOGGED_USERNAME],
        "client_ip": getattr(request, "axes_ip_address", None),
        "path": getattr(request, "path", None),
    }


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                    **kwargs: Any) -> None:
    """After axes has recorded the failure (its receiver is connected first): log and count it,
    and the lockout when this failure reached the limit (refused attempts are not new ones)."""
    fields = _fields(request, credentials)
    if getattr(request, REFUSED, False):
        metrics.login_failed(fields["login_site"], "locked_out")
        logger.warning("sign-in refused: locked out after too many failed attempts",
                       extra={**fields, "event": "login_refused", "reason": "locked_out"})
        return
    metrics.login_failed(fields["login_site"], "invalid_credentials")
    logger.warning("sign-in failed: wrong username or password", extra={
        **fields, "event": "login_failed", "reason": "invalid_credentials",
        "failures": getattr(request, "axes_failures_since_start", None),
        "failure_limit": settings.AXES_FAILURE_LIMIT})
    if getattr(request, "axes_locked_out", False):
        metrics.login_locked_out(fields["login_site"])
        logger.warning("sign-in locked out after %s failed attempts", settings.AXES_FAILURE_LIMIT, extra={
            **fields, "event": "login_locked_out", "cooloff_seconds": cooloff_seconds(request)})


def cooloff_seconds(request: HttpRequest | None) -> int:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else 0


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the page a locked-out sign-in gets, 429 with ``Retry-After``.

    (axes passes ``(request, response, credentials)`` or, on its async path,
    ``(request, credentials)``; neither is needed here.)
    """
    seconds = cooloff_seconds(request)
    response = render(request, "registration/locked_out.html", {
        "cooloff_minutes": max(1, math.ceil(seconds / 60)),
        "login_url": request.path,
    }, status=settings.AXES_HTTP_RESPONSE_CODE)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def connect() -> None:
    """Called from AssistantConfig.ready(), after axes connected its own receivers."""
    user_login_failed.connect(on_login_failed, dispatch_uid="toolgate.login_failed")
