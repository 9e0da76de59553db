"""Browser security headers on every response: CSP, Permissions-Policy, HSTS under HTTPS.

The policy itself is asserted whole, so loosening it (an 'unsafe-inline', a CDN) fails a
test; and the HTML the pages actually send is searched for the inline code it forbids.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.http import HttpRequest
from django.test import Client
from django.urls import include, path

from approvals.models import ApprovalRequest
from tests.approvals.test_admin import parked

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
POLICY = {
    "default-src": {"'none'"}, "script-src": {"'self'"}, "style-src": {"'self'"},
    "img-src": {"'self'", "data:"}, "font-src": {"'self'"}, "connect-src": {"'self'"},
    "manifest-src": {"'self'"}, "base-uri": {"'none'"}, "form-action": {"'self'"},
    "frame-ancestors": {"'none'"}, "object-src": {"'none'"},
}
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def boom(request: HttpRequest):
    raise RuntimeError("deliberate failure for the 500 page")


urlpatterns = [path("boom/", boom), path("", include("assistant.urls"))]


def assert_inline_free(html: str) -> None:
    for name, pattern in (("inline <script>", INLINE_SCRIPT), ("inline style", INLINE_STYLE),
                          ("on*= handler", INLINE_HANDLER), ("javascript: URL", JAVASCRIPT_URL)):
        found = pattern.search(html)
        assert found is None, f"{name} in the page: {html[max(0, found.start() - 80):found.end() + 80]!r}"


def directives(header: str | None) -> dict[str, set[str]]:
    """A policy header as {directive: {sources}} (django-csp does not keep an order)."""
    parsed = {}
    for part in (header or "").split(";"):
        name, *sources = part.split()
        parsed[name] = set(sources)
    return parsed


def assert_headers(response) -> None:
    assert directives(response["Content-Security-Policy"]) == POLICY
    policy = response["Permissions-Policy"]
    for feature in DENIED_FEATURES:
        assert f"{feature}=()" in policy
    assert "Strict-Transport-Security" not in response  # DJANGO_HTTPS is off in the tests


@pytest.fixture
def staff(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["approvals", "tools"]))
    return bob


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_pages_people_see_carry_the_policy_and_no_inline_code(user, staff, admin_user):
    superuser = admin_user
    request = parked(user)
    pages = [
        (Client(), "/accounts/login/", 200),
        (client_for(user), "/", 200),
        (client_for(user), "/settings/tokens/", 200),
        (client_for(user), "/api/docs", 200),
        (Client(), "/admin/login/", 200),
        (client_for(staff), "/admin/", 200),
        (client_for(staff), "/admin/approvals/approvalrequest/", 200),
        (client_for(staff), f"/admin/approvals/approvalrequest/{request.pk}/change/", 200),
        (client_for(staff), "/admin/approvals/auditevent/", 200),
        (client_for(staff), "/admin/tools/toolcall/", 200),
        (client_for(staff), f"/admin/tools/toolcall/{request.tool_call_id}/change/", 200),
        (client_for(superuser), "/admin/axes/accessattempt/", 200),
        (Client(), "/no-such-page/", 404),
    ]
    for client, url, status in pages:
        response = client.get(url)
        assert response.status_code == status, url
        assert_headers(response)
        assert_inline_free(response.content.decode())
    assert ApprovalRequest.objects.filter(pk=request.pk).exists()


def test_a_conversation_page_carries_the_policy_and_no_inline_code(user):
    from assistant.models import Conversation

    conversation = Conversation.objects.create(owner=user, profile="demo")
    response = client_for(user).get(f"/c/{conversation.pk}/")
    assert response.status_code == 200
    assert_headers(response)
    assert_inline_free(response.content.decode())
    assert '<script id="chat-config" type="application/json">' in response.content.decode()  # data, not code


def test_api_and_probe_responses_carry_the_headers_too(user):
    assert_headers(client_for(user).get("/api/v1/tools"))
    assert_headers(Client().get("/api/v1/no-such-endpoint"))
    assert_headers(Client().get("/health"))


@pytest.mark.urls(__name__)
def test_a_server_error_page_carries_the_policy():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert_headers(response)


def test_the_csrf_failure_page_carries_the_policy_and_no_inline_style(user):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 403
    assert_headers(response)
    body = response.content.decode()
    assert "CSRF verification failed. Request aborted." in body
    assert_inline_free(body)


def test_the_lockout_page_carries_the_policy(user):
    from django.conf import settings

    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert_headers(response)
    assert_inline_free(response.content.decode())


def test_no_template_or_static_file_has_inline_code():
    """Every template the project ships, including its admin overrides: what a future page
    would render, not only the pages above."""
    files = sorted((ROOT / "templates").rglob("*.html"))
    assert len(files) > 10
    for file in files:
        text = re.sub(r"{% comment %}.*?{% endcomment %}", "", file.read_text(), flags=re.S)
        try:
            assert_inline_free(text)
        except AssertionError as exc:
            raise AssertionError(f"{file.relative_to(ROOT)}: {exc}") from None
    for script in (ROOT / "static" / "js").rglob("*.js"):
        text = script.read_text()
        assert "setAttribute(\"style\"" not in text and "setAttribute('style'" not in text, script
        assert not re.search(r"\beval\(|new Function\(", text), script


# --- HSTS: settings are read at start-up, so each configuration gets a fresh interpreter -----

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
out = {}
for name, kwargs in {"https": {"HTTP_X_FORWARDED_PROTO": "https"}, "http": {}}.items():
    response = client.get("/health", **kwargs)
    out[name] = {"status": response.status_code, "hsts": response.headers.get("Strict-Transport-Security"),
                 "csp": response.headers.get("Content-Security-Policy")}
print(json.dumps(out))
"""


def probe(tmp_path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "assistant.settings", "TOOLGATE_VAR_DIR": str(tmp_path),
                  "DJANGO_DEBUG": "false", "SECRET_KEY": "k" * 60, "DJANGO_ALLOWED_HOSTS": "testserver",
                  "LOG_LEVEL": "ERROR", **env})
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_hsts_is_sent_on_https_when_django_https_is_on(tmp_path):
    shown = probe(tmp_path, DJANGO_HTTPS="true")
    assert shown["https"]["hsts"] == "max-age=31536000"
    assert directives(shown["https"]["csp"]) == {**POLICY, "upgrade-insecure-requests": set()}
    assert shown["http"]["hsts"] is None  # never on plain HTTP (RFC 6797)


def test_the_hsts_max_age_is_configurable(tmp_path):
    shown = probe(tmp_path, DJANGO_HTTPS="true", DJANGO_HSTS_SECONDS="600",
                  DJANGO_HSTS_INCLUDE_SUBDOMAINS="true")
    assert shown["https"]["hsts"] == "max-age=600; includeSubDomains"
    assert probe(tmp_path, DJANGO_HTTPS="true", DJANGO_HSTS_SECONDS="0")["https"]["hsts"] is None


def test_no_hsts_without_django_https_even_behind_a_claimed_https_proxy(tmp_path):
    shown = probe(tmp_path)
    assert shown["https"]["hsts"] is None and shown["http"]["hsts"] is None
    assert directives(shown["https"]["csp"]) == POLICY
