"""Celery tasks of the chat side: thin, idempotent.

``recover_interrupted_runs`` runs every minute under Celery beat: a run whose process
stopped mid-run (a deploy, a crash) is closed as failed once its lease has run out, so its
conversation can go on (see assistant/recovery.py for why a lease).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from assistant import recovery


@shared_task(ignore_result=True)
def recover_interrupted_runs() -> int:
    return recovery.close_interrupted_runs(settings.RUN_LEASE_SECONDS)
