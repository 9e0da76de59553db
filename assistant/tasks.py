"""Celery tasks of the chat side: thin, idempotent.

``drive_run`` drives one run in a worker (production mode: web processes only store the
message and enqueue it). It is acknowledged late; taking the run is a conditional update
(assistant/runs/driver.py), so a task delivered twice, or a run a live driver holds, is
left alone.

``recover_interrupted_runs`` runs every minute under Celery beat: a run whose driver
stopped mid-run (a deploy, a crash) is handed to a worker again once its lease has run out,
which continues it from its last durable step (see assistant/runs/recovery.py).
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings

from assistant.runs import chat, recovery


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drive_run(run_id: str) -> None:
    async_to_sync(chat.carry_on)(run_id)


@shared_task(ignore_result=True)
def recover_interrupted_runs() -> int:
    return recovery.recover(settings.RUN_LEASE_SECONDS, chat.continue_soon)

