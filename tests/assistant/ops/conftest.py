"""Fixtures for the operations tests: the configured JSON log handler, read back; metrics."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from assistant.ops.logging import JsonFormatter

TOKEN = "test-metrics-token-0123456789"


class JsonLogs:
    """What the real root handler (settings.LOGGING) wrote, one parsed object per line."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.strip()]

    def of(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == logger]

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["message"] == message]


@pytest.fixture
def json_logs():
    """Point the configured JSON console handler at a buffer for the test.

    This is the handler ``LOGGING`` installs (tests run with DJANGO_DEBUG off, so JSON is
    the default format): the test reads exactly what production would write.
    """
    root = logging.getLogger()
    handlers = [h for h in root.handlers
                if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)]
    assert handlers, "settings.LOGGING did not install the JSON console handler on the root logger"
    handler = handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield JsonLogs(buffer)
    finally:
        handler.setStream(previous)
        root.setLevel(level)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics body by (name, sorted labels)."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels: str) -> float:
    """A sample's value, 0 when it is absent (a labelled counter not yet incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def scrape(client, metrics_token):
    """GET /metrics with the bearer token, parsed."""

    def get() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
        assert response.status_code == 200, response.content
        return parse_metrics(response.content.decode())

    return get


@pytest.fixture
def ascrape(async_client, metrics_token):
    """GET /metrics through the ASGI handler (for async tests), parsed."""

    async def get() -> dict:
        response = await async_client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert response.status_code == 200, response.content
        return parse_metrics(response.content.decode())

    return get
