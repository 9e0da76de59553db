"""Pointing this process's Celery app at a broker for one test, and back, leaving nothing pooled.

Celery opens its broker connection pool and its producer pool once, for the broker URL it
sees at the first publish, and keeps both for the life of the process: setting
``app.conf.broker_url`` later changes nothing already pooled. Even an eager task
(``task_always_eager``) acquires a producer from that pool. So a test that published through
``memory://`` left every later test in the same pytest process publishing into that
in-process memory queue, where no worker ever looks: tests/prod's worker tests timed out
after the whole suite (and passed alone). Switching drops the pools on the way in and out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from kombu import pools

from assistant.celery import app


def broker_url(offset: int = 1) -> str:
    """REDIS_URL with a later database number (the next by default): a broker's, out of reach
    of the suite's per-test ``cache.clear()`` (a FLUSHDB of the cache's database)."""
    parts = urlsplit(os.environ["REDIS_URL"])
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + offset) % 16}"))


def drop_pools(celery: Celery = app) -> None:
    """Close and forget the broker connection and producer pools (as Celery does after a fork),
    here and in kombu's registry of them; the next publish builds them for the broker then."""
    pools.reset()
    celery._pool = None
    celery.amqp._producer_pool = None


@contextmanager
def using_broker(url: str, *, eager: bool = False) -> Iterator[Celery]:
    """Publish through ``url`` (tasks run here, through Celery, when ``eager``) until exit."""
    previous = app.conf.broker_url, app.conf.task_always_eager
    drop_pools()
    app.conf.broker_url, app.conf.task_always_eager = url, eager
    try:
        yield app
    finally:
        drop_pools()
        app.conf.broker_url, app.conf.task_always_eager = previous
