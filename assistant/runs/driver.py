"""Who drives a run: exactly one process at a time, named in ``Run.driver``.

A run is driven by whoever holds it: the web process that started it (embedded default),
the Celery worker whose ``drive_run`` task took it (production), or the process that
resumed it after an approval. Taking it is a conditional update that must change exactly
one row: a run is free when nobody holds it (``driver`` empty: just started, parked, or
handed back by recovery) or when its holder stopped renewing the lease
(``RUN_LEASE_SECONDS``; assistant/runs/heartbeat.py renews it). So two deliveries of the
same task, or a worker and a recovering server, never drive one run together; a holder
whose run was taken sees it at its next heartbeat or write and stops without writing.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from assistant.models import Run


def new_token() -> str:
    """A name for one drive of one run: host, process, and a random part."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def take(run_id: Any, token: str, lease_seconds: float | None = None) -> bool:
    """Hold ``run_id`` for ``token`` if it is ``running`` and free (or already ``token``'s,
    or its holder's lease ran out); renews the lease. False: someone else drives it, or it
    is not running any more."""
    lease = settings.RUN_LEASE_SECONDS if lease_seconds is None else lease_seconds
    now = timezone.now()
    free = Q(driver="") | Q(driver=token) | Q(updated_at__lt=now - timedelta(seconds=lease))
    return Run.objects.filter(free, pk=run_id, status=Run.Status.RUNNING).update(
        driver=token, updated_at=now) == 1
