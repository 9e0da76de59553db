"""Redis connections that survive a Redis restart: one set of options for every client.

A restarted Redis closes every pooled connection. redis-py keeps them in its pools and,
without a retry policy (its default is none), the next command on each fails with
``ConnectionError: Connection closed by server`` — a streaming run's next event, a new
socket's ``group_add`` — until every stale connection has been used up once. So each
client (the channel layer, the realtime event log, the cache; the broker through kombu's
own options) gets the same two defences:

- ``retry`` + ``retry_on_error``: a command that fails with a connection error or a timeout
  is sent again on a fresh connection, with exponential backoff and jitter, up to
  ``REDIS_RETRIES`` times (16 by default: about 9 s of waiting in all, longer than a
  restart takes);
- ``health_check_interval``: a connection idle for longer than that is PINGed before use,
  so a dead one is replaced before a command is lost on it.

A command is retried only when the connection broke, which after a restart means the new
server never saw it; the one command that could in theory be applied twice (the event
log's append, if the connection broke after Redis ran it) costs a duplicate event, which
clients drop by its seq.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

BACKOFF_BASE = 0.05  # seconds before the first retry; doubled each time, half of it jitter
BACKOFF_CAP = 1.0  # longest single wait


def _backoff() -> EqualJitterBackoff:
    return EqualJitterBackoff(base=BACKOFF_BASE, cap=BACKOFF_CAP)


def async_options(*, retries: int, health_check_interval: int) -> dict[str, Any]:
    """Connection options for ``redis.asyncio`` pools (channel layer, event log)."""
    return {"retry": AsyncRetry(_backoff(), retries), "retry_on_error": [ConnectionError, TimeoutError],
            "health_check_interval": health_check_interval, "socket_keepalive": True}


def sync_options(*, retries: int, health_check_interval: int) -> dict[str, Any]:
    """Connection options for synchronous ``redis`` pools (Django's cache)."""
    return {"retry": Retry(_backoff(), retries), "retry_on_error": [ConnectionError, TimeoutError],
            "health_check_interval": health_check_interval, "socket_keepalive": True}


def broker_options(*, health_check_interval: int) -> dict[str, Any]:
    """kombu's Redis transport options (Celery's broker): it reconnects by itself
    (``broker_connection_retry``); these make it notice a dead connection sooner."""
    return {"health_check_interval": health_check_interval, "retry_on_timeout": True,
            "socket_keepalive": True}
