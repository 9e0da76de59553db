"""Prometheus metrics and the ``GET /metrics`` view that exposes them.

What operators alert on: tool calls and how they end, how long tools and model providers
take, provider failures, tokens spent, approvals piling up, and failed sign-ins. Counters
are fed from places each already on the path it measures, so nothing is counted twice:

* the tool journal (``TOOLS_JOURNAL`` lists :func:`observe_tool_call` after the audit
  trail's observer), told of every ToolCall write — the tools app stays unaware of it;
* :func:`instrumented`, wrapped by the engine around each provider stream;
* :func:`login_failed` / :func:`login_locked_out`, from the login throttle's signal
  receiver (assistant/security/logins.py);
* the database, read at scrape time for what is a *state* rather than an event
  (pending approvals, active runs), so every process reports the same truth.

Access: a bearer token (``METRICS_TOKEN``) or a signed-in staff user; nobody else. With
several server processes, set ``PROMETHEUS_MULTIPROC_DIR`` (see docs/operations.md) and a
scrape aggregates every process's files; otherwise this process's default registry is used.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from assistant.providers.base import Event, ProviderError, Usage

if TYPE_CHECKING:
    from tools.models import ToolCall

logger = logging.getLogger(__name__)

UNKNOWN_TOOL_LABEL = "(unknown)"  # a made-up tool name must not become a label value

TOOL_CALLS = Counter(
    "toolgate_tool_calls", "Tool calls that reached a final outcome.", ["tool", "outcome", "error_type"],
)
TOOL_DURATION = Histogram(
    "toolgate_tool_duration_seconds", "Time a tool call took to run (executed calls only).", ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
APPROVALS_REQUESTED = Counter(
    "toolgate_approvals_requested", "Tool calls parked for a human decision.", ["tool"],
)
PROVIDER_ERRORS = Counter(
    "toolgate_provider_errors", "Model provider failures (after the SDK's retries).", ["provider", "kind"],
)
PROVIDER_FIRST_EVENT = Histogram(
    "toolgate_provider_first_event_seconds", "Time from sending a model turn to its first streamed event.",
    ["provider"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
PROVIDER_TURN = Histogram(
    "toolgate_provider_turn_seconds", "Time a model turn took to stream completely.", ["provider"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
TOKENS = Counter(
    "toolgate_tokens", "Tokens used, as reported by the provider.", ["profile", "direction"],
)
BUDGET_REFUSALS = Counter(
    "toolgate_budget_refusals", "Model turns and messages refused by a daily token budget.",
)
LOGIN_FAILURES = Counter(
    "toolgate_login_failures", "Failed sign-ins: wrong credentials, or refused while locked out.",
    ["site", "reason"],
)
LOGIN_LOCKOUTS = Counter(
    "toolgate_login_lockouts", "Sign-ins locked out after too many failures (docs/security.md).", ["site"],
)


# --- tool calls (the journal) -------------------------------------------------------------


def observe_tool_call(stage: str, record: ToolCall, **details: Any) -> None:
    """A ``TOOLS_JOURNAL`` observer: count each call once, when its outcome is final.

    Called inside the pipeline's transaction, so it must never raise: a metrics bug must
    not roll back the record of a tool call.
    """
    try:
        _count(stage, record)
    except Exception:
        logger.exception("could not count tool call %s in the metrics", record.pk)


def _count(stage: str, record: ToolCall) -> None:
    tool = UNKNOWN_TOOL_LABEL if record.error_type == "unknown_tool" else record.tool_name
    if stage == "opened" and record.status == "pending":
        APPROVALS_REQUESTED.labels(tool).inc()
    if stage in ("opened", "finished", "settled") and record.is_terminal:
        TOOL_CALLS.labels(tool, record.status, record.error_type or "").inc()
    if stage == "finished" and record.duration_ms is not None:
        TOOL_DURATION.labels(tool).observe(record.duration_ms / 1000)


# --- providers (the engine) ---------------------------------------------------------------


async def instrumented(stream: AsyncIterator[Event], *, provider: str, profile: str) -> AsyncIterator[Event]:
    """Pass a provider's stream through, timing it and counting its errors and tokens.

    Tokens are counted from the turn's last ``Usage`` event (what the run stores), also
    when the turn fails or is cancelled part-way: those tokens were spent.
    """
    start = time.perf_counter()
    first = True
    usage: Usage | None = None
    try:
        async for event in stream:
            if first:
                PROVIDER_FIRST_EVENT.labels(provider).observe(time.perf_counter() - start)
                first = False
            if isinstance(event, Usage):
                usage = event
            yield event
    except ProviderError as exc:
        provider_error(exc.provider or provider, exc.kind)
        raise
    else:
        PROVIDER_TURN.labels(provider).observe(time.perf_counter() - start)
    finally:
        if usage is not None:
            count_tokens(profile, usage.input_tokens, usage.output_tokens)


def provider_error(provider: str, kind: str) -> None:
    PROVIDER_ERRORS.labels(provider or "unknown", kind).inc()


def count_tokens(profile: str, input_tokens: int, output_tokens: int) -> None:
    if input_tokens:
        TOKENS.labels(profile, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(profile, "output").inc(output_tokens)


# --- sign-ins (assistant.security.logins) --------------------------------------------------


def login_failed(site: str, reason: str) -> None:
    LOGIN_FAILURES.labels(site, reason).inc()


def login_locked_out(site: str) -> None:
    LOGIN_LOCKOUTS.labels(site).inc()


# --- state read at scrape time ------------------------------------------------------------


class DatabaseCollector:
    """Gauges computed from the database when scraped: identical in every process."""

    def collect(self) -> Iterator[Metric]:
        from django.db.models import Count, Min

        from approvals.models import ApprovalRequest
        from assistant.models import Run

        pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).aggregate(
            count=Count("pk"), oldest=Min("created_at"))
        yield GaugeMetricFamily("toolgate_approvals_pending", "Tool calls waiting for a human decision.",
                                value=pending["count"])
        age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
        yield GaugeMetricFamily("toolgate_approvals_oldest_pending_seconds",
                                "Age of the oldest pending approval request (0 when none).", value=age)
        active = {row["status"]: row["n"] for row in Run.objects.filter(
            status__in=[Run.Status.RUNNING, Run.Status.WAITING]).values("status").annotate(
            n=Count("pk")).order_by()}
        runs = GaugeMetricFamily("toolgate_runs_active", "Runs not finished yet, by status.",
                                 labels=["status"])
        for status in (Run.Status.RUNNING, Run.Status.WAITING):
            runs.add_metric([str(status)], active.get(status, 0))
        yield runs


class _Forward:
    """Lets a per-scrape registry include this process's default registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return self.registry.collect()


def scrape_registry() -> CollectorRegistry:
    """What one scrape reports: every process's counters in multiprocess mode, else this
    process's, plus the database gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector())
    return registry


# --- the view -----------------------------------------------------------------------------


def allowed(request: HttpRequest) -> bool:
    """A valid ``Authorization: Bearer <METRICS_TOKEN>``, or a signed-in staff user."""
    token = getattr(settings, "METRICS_TOKEN", None) or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse(
            "Metrics are restricted: send the METRICS_TOKEN as a bearer token, or sign in as staff.\n",
            status=401, content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
