"""/health answers without touching anything; /ready checks every dependency it names."""

from __future__ import annotations

import socket

import pytest
from django.db import connection
from django.test import AsyncClient, Client


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_health_answers_ok_without_touching_the_database():
    # No django_db mark: pytest-django fails any database access in this test.
    response = Client().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
async def test_ready_reports_each_dependency_with_its_latency():
    response = await AsyncClient().get("/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "channel_layer"}  # no broker: no Celery
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0


@pytest.mark.django_db(transaction=True)
async def test_ready_checks_the_broker_when_celery_carries_out_decisions(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = await AsyncClient().get("/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # details go to the log, not to callers


@pytest.mark.django_db(transaction=True)
async def test_ready_is_503_when_the_cache_is_down(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}}
    response = await AsyncClient().get("/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"] == {"status": "error", "error": "ConnectionError",
                                       "latency_ms": body["checks"]["cache"]["latency_ms"]}
    assert body["checks"]["channel_layer"]["status"] == "ok"


def test_only_get_is_allowed():
    assert Client().post("/health").status_code == 405


@pytest.mark.django_db(transaction=True)
async def test_ready_reports_a_database_that_is_down(monkeypatch):
    from assistant.ops import health

    def refuse() -> None:
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(health, "_select_one", refuse)  # the edge: no database to stop here
    response = await AsyncClient().get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "error"


@pytest.mark.django_db(transaction=True)
async def test_ready_says_which_mode_the_run_python_sandbox_is_in(settings):
    from asgiref.sync import sync_to_async

    from tests.tools.builtin.conftest import require_isolation
    from tools.builtin.sandbox import sandbox_plan

    require_isolation()
    assert (await AsyncClient().get("/ready")).json()["sandbox"] == "isolated"
    settings.TOOLS_SANDBOX_BWRAP = "/nonexistent/bwrap"
    body = (await AsyncClient().get("/ready")).json()
    assert (body["status"], body["sandbox"]) == ("ok", "off")  # information, not a failed check
    settings.TOOLS_SANDBOX_ALLOW_WEAK = True
    await sync_to_async(sandbox_plan)()  # probed here, so a loaded machine cannot say "probing"
    assert (await AsyncClient().get("/ready")).json()["sandbox"] == "weak"
