"""Login throttling (assistant/security/logins.py + django-axes), against the real settings.

The attack from the issue: 25 wrong passwords in a row, then the right one. Every test
posts to the real login views (the site's and the admin's) with the configured limit and
cool-off; time passing is simulated by ageing the recorded failures, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from prometheus_client import REGISTRY

from assistant.api import tokens
from tests.assistant.ops.conftest import json_logs  # noqa: F401 -- the configured JSON handler, read back

pytestmark = pytest.mark.django_db

SITE_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
RIGHT = "pw-alice-123"  # the ``user`` fixture's password
ATTACKER = "203.0.113.7"


def post_login(path: str, username: str, password: str, ip: str = ATTACKER, client: Client | None = None):
    client = client or Client()
    response = client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)
    return client, response


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_locked_out_page(response) -> None:
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many sign-in attempts" in body
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Try again in {minutes} minutes." in body
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))


def hammer(path: str, username: str, times: int = 25, ip: str = ATTACKER) -> list[int]:
    return [post_login(path, username, f"wrong-{i}", ip)[1].status_code for i in range(times)]


def test_the_configured_limit_is_the_real_one():
    """The suite runs the production defaults: five failures, fifteen minutes, name and address."""
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert settings.AUTHENTICATION_BACKENDS[0] == "assistant.security.logins.ThrottleBackend"


def test_25_wrong_passwords_then_the_right_one_is_refused_on_the_site_login(user):
    limit = settings.AXES_FAILURE_LIMIT
    statuses = hammer(SITE_LOGIN, "alice")
    assert statuses == [200] * (limit - 1) + [429] * (25 - limit + 1)

    client, response = post_login(SITE_LOGIN, "alice", RIGHT)

    assert_locked_out_page(response)
    assert not signed_in(client)
    # refused attempts are not checked and not recorded: the count stopped at the limit
    assert sum(a.failures_since_start for a in AccessAttempt.objects.all()) == limit


def test_25_wrong_passwords_then_the_right_one_is_refused_on_the_admin_login(django_user_model):
    django_user_model.objects.create_user("root", "root@example.com", "pw-root-12345", is_staff=True,
                                          is_superuser=True)
    limit = settings.AXES_FAILURE_LIMIT
    assert hammer(ADMIN_LOGIN, "root") == [200] * (limit - 1) + [429] * (25 - limit + 1)

    client, response = post_login(ADMIN_LOGIN, "root", "pw-root-12345")

    assert_locked_out_page(response)
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_below_the_limit_the_right_password_still_works(user):
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT - 1)
    client, response = post_login(SITE_LOGIN, "alice", RIGHT)
    assert response.status_code == 302 and signed_in(client)


def test_one_address_is_locked_out_after_failures_on_many_usernames(user):
    for i in range(settings.AXES_FAILURE_LIMIT):
        post_login(SITE_LOGIN, f"guess{i}", "wrong")

    client, response = post_login(SITE_LOGIN, "alice", RIGHT)  # a name it never tried
    assert_locked_out_page(response)
    assert not signed_in(client)

    client, response = post_login(SITE_LOGIN, "alice", RIGHT, ip="198.51.100.2")  # alice, elsewhere
    assert response.status_code == 302 and signed_in(client)


def test_one_username_is_locked_out_after_failures_from_many_addresses(user, other_user):
    for i in range(settings.AXES_FAILURE_LIMIT):
        post_login(SITE_LOGIN, "alice", "wrong", ip=f"203.0.113.{10 + i}")

    client, response = post_login(SITE_LOGIN, "alice", RIGHT, ip="198.51.100.2")
    assert_locked_out_page(response)

    client, response = post_login(SITE_LOGIN, "mallory", "pw-mallory-123", ip="198.51.100.2")
    assert response.status_code == 302 and signed_in(client)


def test_the_lockout_ends_when_the_cool_off_has_passed(user):
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT)
    cool_off = settings.AXES_COOLOFF_TIME

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - cool_off
                                 + timedelta(seconds=30))
    assert post_login(SITE_LOGIN, "alice", RIGHT)[1].status_code == 429  # 30 s to go

    earlier = AccessAttempt.objects.get().attempt_time - timedelta(seconds=31)
    AccessAttempt.objects.update(attempt_time=earlier)
    client, response = post_login(SITE_LOGIN, "alice", RIGHT)
    assert response.status_code == 302 and signed_in(client)


def test_the_lockout_page_is_served_on_the_async_stack_too(user, async_client):
    """Daphne runs the ASGI handler, where axes takes another code path."""
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT)

    async def attempt():
        return await async_client.post(SITE_LOGIN, {"username": "alice", "password": RIGHT},
                                       REMOTE_ADDR=ATTACKER)

    from asgiref.sync import async_to_sync
    response = async_to_sync(attempt)()
    assert_locked_out_page(response)


def test_failures_and_lockouts_are_counted_in_the_metrics(user):
    labels = {"site": "site"}
    failed = value("toolgate_login_failures_total", reason="invalid_credentials", **labels)
    refused = value("toolgate_login_failures_total", reason="locked_out", **labels)
    lockouts = value("toolgate_login_lockouts_total", **labels)
    admin_failed = value("toolgate_login_failures_total", site="admin", reason="invalid_credentials")

    hammer(SITE_LOGIN, "alice", times=8)
    post_login(SITE_LOGIN, "alice", RIGHT)
    post_login(ADMIN_LOGIN, "nobody", "wrong", ip="198.51.100.9")

    limit = settings.AXES_FAILURE_LIMIT
    assert value("toolgate_login_failures_total", reason="invalid_credentials", **labels) - failed == limit
    assert value("toolgate_login_failures_total", reason="locked_out", **labels) - refused == 8 - limit + 1
    assert value("toolgate_login_lockouts_total", **labels) - lockouts == 1  # one lockout, not one per retry
    admin_now = value("toolgate_login_failures_total", site="admin", reason="invalid_credentials")
    assert admin_now - admin_failed == 1


def test_failures_and_the_lockout_are_logged_as_json(user, json_logs):  # noqa: F811
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT + 1)

    lines = json_logs.of("assistant.security.logins")
    events = [line["event"] for line in lines]
    limit = settings.AXES_FAILURE_LIMIT
    assert events == ["login_failed"] * limit + ["login_locked_out", "login_refused"]
    first = lines[0]
    assert first["message"] == "sign-in failed: wrong username or password"
    assert (first["level"], first["username"], first["client_ip"]) == ("WARNING", "alice", ATTACKER)
    assert (first["login_site"], first["path"], first["failures"], first["failure_limit"]) == (
        "site", SITE_LOGIN, 1, limit)
    assert first["request_id"]  # tied to the request like every other line
    assert lines[limit - 1]["failures"] == limit
    locked = lines[limit]
    assert locked["message"] == f"sign-in locked out after {limit} failed attempts"
    assert locked["cooloff_seconds"] == settings.AXES_COOLOFF_TIME.total_seconds()
    assert lines[-1]["reason"] == "locked_out"
    assert not any("wrong-" in str(line) for line in json_logs.lines())  # no password is ever logged


def test_a_locked_out_address_keeps_its_signed_in_sessions_and_api_tokens(user):
    browser = Client()
    browser.force_login(user)
    made = tokens.create(user, "script")
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT)
    assert post_login(SITE_LOGIN, "alice", RIGHT)[1].status_code == 429

    assert browser.get("/", REMOTE_ADDR=ATTACKER).status_code == 200
    response = Client().get("/api/v1/tools", REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION=f"Bearer {made.secret}")
    assert response.status_code == 200, response.content


def test_wrong_api_tokens_never_lock_anyone_out(user):
    for _ in range(settings.AXES_FAILURE_LIMIT * 2):
        response = Client().get("/api/v1/tools", REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION="Bearer tg_nope")
        assert response.status_code == 401
    assert not AccessAttempt.objects.exists()
    client, response = post_login(SITE_LOGIN, "alice", RIGHT)
    assert response.status_code == 302 and signed_in(client)


def test_an_operator_lifts_a_lockout_with_axes_reset_username(user):
    from django.core.management import call_command

    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT)
    assert post_login(SITE_LOGIN, "alice", RIGHT, ip="198.51.100.2")[1].status_code == 429

    call_command("axes_reset_username", "alice")

    client, response = post_login(SITE_LOGIN, "alice", RIGHT, ip="198.51.100.2")
    assert response.status_code == 302 and signed_in(client)


def test_a_forged_x_forwarded_for_does_not_give_a_fresh_address(user):
    """The app counts REMOTE_ADDR; only Daphne behind a proxy (--proxy-headers) rewrites it."""
    for i in range(settings.AXES_FAILURE_LIMIT):
        Client().post(SITE_LOGIN, {"username": f"guess{i}", "password": "wrong"}, REMOTE_ADDR=ATTACKER,
                      HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    response = Client().post(SITE_LOGIN, {"username": "alice", "password": RIGHT}, REMOTE_ADDR=ATTACKER,
                             HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert_locked_out_page(response)


def test_the_recorded_failures_never_hold_the_passwords_typed(user):
    hammer(SITE_LOGIN, "alice", times=settings.AXES_FAILURE_LIMIT)
    stored = " ".join(f"{a.post_data} {a.get_data}" for a in AccessAttempt.objects.all())
    assert "password=****" in stored
    assert "wrong-" not in stored
