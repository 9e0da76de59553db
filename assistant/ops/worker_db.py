"""Database connections in Celery workers live as long as ``CONN_MAX_AGE`` says, as in a request.

Celery's Django fixup closes every database connection before and after each task — unless
``CELERY_DB_REUSE_MAX`` is set — whatever ``CONN_MAX_AGE`` is. So every task paid for a new
PostgreSQL connection (TCP, SCRAM authentication, session set-up: 10-70 ms on a busy machine)
before its first query, and an approved call's result reached the waiting client (an MCP
request, a chat) that much later. The Procfile's persistent worker connections did nothing.

Instead, settings put the fixup's reuse count beyond reach and these receivers do around each
task what Django does around each request: ``close_old_connections()``, which closes a
connection that errored, fails its health check (``CONN_HEALTH_CHECKS``) or is older than
``CONN_MAX_AGE``, and keeps the rest. ``CONN_MAX_AGE=0`` (the default outside the Procfile's
worker) still closes after every task. An eager task (run inline by its caller) is left alone,
as the fixup leaves it: it runs inside its caller's connection and transaction.
"""

from __future__ import annotations

from typing import Any

from celery import signals
from django.db import close_old_connections


def _around_task(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    close_old_connections()


def connect() -> None:
    signals.task_prerun.connect(_around_task, dispatch_uid="toolgate.worker_db.prerun", weak=False)
    signals.task_postrun.connect(_around_task, dispatch_uid="toolgate.worker_db.postrun", weak=False)
