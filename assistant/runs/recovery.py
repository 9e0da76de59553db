"""Continue runs whose driver stopped, safely while other processes serve.

A run is driven by one process at a time (assistant/runs/driver.py): a Celery worker in
production, the web process in the embedded default, or whoever resumed it after an
approval. If that process stops mid-run — a deploy's SIGTERM, a crash, a SIGKILL — the run
stays ``running`` with nobody driving it.

With several processes nobody knows whether a run's driver is alive, so a run is taken only
once it has been untouched (``updated_at``) for a *lease* (``RUN_LEASE_SECONDS``, 60 s): a
live driver renews it every ``RUN_HEARTBEAT_SECONDS`` (assistant/runs/heartbeat.py), even in
the middle of a long model turn or tool call. The claim is conditional on the
``updated_at`` that was read, so a run that moves on meanwhile is left alone. The run is
then handed back (``driver`` emptied) and continued from its last durable step by a new
driver (``continue_with``: a worker's task, or the embedded server's loop; see
``Engine.carry_on``). The embedded server, alone by definition, continues at start-up every
run left running by its previous process (no lease).

A run whose drivers keep dying (``RUN_MAX_RECOVERIES`` times: a poisonous run that kills
every process driving it) is closed instead, as failed with the code ``interrupted``: its
open tool calls are answered (a call cut off mid-execution is marked failed, never run
again) so the next request to the model is a valid history, and any open socket is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from assistant.models import Run
from assistant.realtime.delivery import Publisher
from assistant.runs.engine import answer_open_calls
from assistant.runs.payloads import run_payload
from tools.pipeline import Pipeline

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
RUN_MESSAGE = "The server stopped while this reply was being written. Ask again."


def recover(lease_seconds: float | None, continue_with: Callable[[Any], Any], *,
            before: datetime | None = None) -> int:
    """Hand every ``running`` run untouched for ``lease_seconds`` (or since ``before``) to a
    new driver: ``continue_with(run_id)`` once the run is handed back. A run recovered
    ``RUN_MAX_RECOVERIES`` times already is closed instead. The number of runs taken."""
    cutoff = before if before is not None else timezone.now() - timedelta(seconds=lease_seconds or 0)
    taken = 0
    for run in Run.objects.filter(status=Run.Status.RUNNING, updated_at__lt=cutoff).order_by("updated_at"):
        if run.driver and run.recoveries >= settings.RUN_MAX_RECOVERIES:
            taken += close_run(run)
        elif hand_back(run):
            logger.warning("run %s of conversation %s lost its driver; continuing it", run.pk,
                           run.conversation_id)
            continue_with(run.pk)
            taken += 1
    return taken


def hand_back(run: Run) -> bool:
    """Free ``run`` for a new driver, only if unchanged since it was read. A run that had a
    driver (not one merely waiting in the queue) counts as recovered once more."""
    recoveries = run.recoveries + (1 if run.driver else 0)
    return Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, updated_at=run.updated_at).update(
        driver="", recoveries=recoveries, updated_at=timezone.now()) == 1


def close_interrupted_runs(lease_seconds: float | None) -> int:
    """Fail every ``running`` run untouched for ``lease_seconds`` (all of them if ``None``)."""
    runs = Run.objects.filter(status=Run.Status.RUNNING)
    if lease_seconds is not None:
        runs = runs.filter(updated_at__lt=timezone.now() - timedelta(seconds=lease_seconds))
    return sum(1 for run in runs.order_by("updated_at") if close_run(run))


def close_run(run: Run) -> bool:
    """Claim ``run`` as interrupted (only if unchanged since it was read), then answer its
    open tool calls and tell its sockets. False if someone else moved it first."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, updated_at=run.updated_at).update(
        status=Run.Status.FAILED, error_code=INTERRUPTED, error=RUN_MESSAGE, finished_at=now, updated_at=now)
    if claimed != 1:
        return False
    run.status, run.error_code, run.error, run.finished_at, run.updated_at = (
        Run.Status.FAILED, INTERRUPTED, RUN_MESSAGE, now, now)
    logger.warning("closed interrupted run %s of conversation %s", run.pk, run.conversation_id)
    answer_open_calls(run, Pipeline(), reason="the server stopped", rule=INTERRUPTED, process_gone=True)
    try:
        async_to_sync(_announce)(run)
    except Exception:  # the run is closed either way; a page reload shows it
        logger.warning("could not tell the sockets of run %s", run.pk, exc_info=True)
    return True


async def _announce(run: Run) -> None:
    publish = Publisher(run.conversation_id)
    await publish({"type": "error", "code": INTERRUPTED, "message": RUN_MESSAGE})
    await publish({"type": "run.finished", "run": run_payload(run)})
