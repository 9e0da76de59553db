"""A test that points Celery at a broker publishes there, whatever an earlier test pooled.

Regression: tests/approvals published (eagerly) through ``memory://``; Celery kept that pool,
so after the rest of the suite tests/prod's worker tests published into this process's
memory and their worker, on Redis, never saw the approved call.
"""

from __future__ import annotations

import redis

from assistant.celery import app
from tests.celery_broker import broker_url, using_broker

QUEUE = "celery"  # Celery's default queue: a Redis list of that name in the broker's database


def queued(url: str) -> int:
    return redis.Redis.from_url(url).llen(QUEUE)


def test_switching_brokers_drops_the_pool_an_earlier_publish_left_behind():
    url = broker_url()
    redis.Redis.from_url(url).flushdb()
    previous = app.conf.broker_url
    app.conf.broker_url = "memory://"  # as a test that switched without the helper
    try:
        app.send_task("tests.nothing")  # Celery now pools memory://
        with using_broker(url):
            app.send_task("tests.nothing")
    finally:
        app.conf.broker_url = previous
    assert queued(url) == 1


def test_leaving_a_broker_drops_its_pool_for_whatever_is_configured_next():
    first, second = broker_url(1), broker_url(2)
    for url in (first, second):
        redis.Redis.from_url(url).flushdb()
    with using_broker(first):
        app.send_task("tests.nothing")
    previous = app.conf.broker_url
    app.conf.broker_url = second
    try:
        app.send_task("tests.nothing")
    finally:
        app.conf.broker_url = previous
    assert (queued(first), queued(second)) == (1, 1)
    for url in (first, second):
        redis.Redis.from_url(url).flushdb()
