"""Probes for load balancers and orchestrators: ``GET /health`` and ``GET /ready``.

Liveness and readiness are different questions. ``/health`` asks "is this process serving
requests?" and touches nothing else, so a database outage never makes an orchestrator
restart every healthy web process at once. ``/ready`` asks "can it do its work right now?"
and checks each dependency (database, cache, channel layer and, when Celery carries out
decisions, the broker) with its latency; any failure answers 503 so the balancer stops
sending traffic here until it recovers. Error details go to the log, not to the anonymous
caller: the response names only the kind of failure.

``/ready`` also says which mode ``run_python``'s sandbox runs in (``isolated``, ``weak`` or
``off``: docs/security.md). It is information, not a check: a machine without bubblewrap
serves everything else, and ``run_python`` there refuses with the cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from approvals import dispatch
from tools.builtin.sandbox import sandbox_status

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0  # seconds: a dependency slower than this is not ready


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
async def ready(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": check_database, "cache": check_cache, "channel_layer": check_channel_layer,
    }
    if dispatch.uses_celery():
        checks["broker"] = check_broker
    results, sandbox = await asyncio.gather(
        asyncio.gather(*(_timed(name, check) for name, check in checks.items())), sandbox_mode())
    report = dict(zip(checks, results, strict=True))
    ok = all(result["status"] == "ok" for result in report.values())
    return JsonResponse({"status": "ok" if ok else "error", "checks": report, "sandbox": sandbox},
                        status=200 if ok else 503)


async def sandbox_mode() -> str:
    """``isolated``, ``weak`` or ``off``; ``probing`` while the first probe takes too long."""
    try:
        status = await asyncio.wait_for(
            sync_to_async(sandbox_status, thread_sensitive=False)(), CHECK_TIMEOUT)
    except TimeoutError:
        return "probing"
    if status["mode"] != "isolated":
        logger.warning("run_python's sandbox is %s: %s", status["mode"], status["detail"])
    return status["mode"]


async def _timed(name: str, check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except Exception as exc:
        logger.warning("readiness check %s failed", name, exc_info=True)
        timed_out = isinstance(exc, TimeoutError)
        error = f"timed out after {CHECK_TIMEOUT:g} s" if timed_out else type(exc).__name__
        return {"status": "error", "error": error, "latency_ms": _ms(started)}
    return {"status": "ok", "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def check_database() -> None:
    await sync_to_async(_select_one)()


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_cache() -> None:
    key, value = f"toolgate:ready:{uuid.uuid4().hex}", uuid.uuid4().hex
    await cache.aset(key, value, timeout=10)
    try:
        if await cache.aget(key) != value:
            raise RuntimeError("the cache did not return the value just stored")
    finally:
        await cache.adelete(key)


async def check_channel_layer() -> None:
    """A message sent to a fresh channel of this process comes back."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ready.check"})
    if (await layer.receive(channel)).get("type") != "ready.check":
        raise RuntimeError("the channel layer returned another message")


async def check_broker() -> None:
    await sync_to_async(_ping_broker, thread_sensitive=False)()


def _ping_broker() -> None:
    from assistant.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT)
        conn.default_channel  # noqa: B018 -- opening a channel proves the broker answers


urlpatterns = [
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
]
