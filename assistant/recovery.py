"""Close runs that a stopped process left ``running``, safely while other processes serve.

A run is driven by a task in one process (a Daphne server, or the Celery worker that
resumed it after an approval). If that process stops mid-run — a deploy's SIGTERM, a
crash — the run stays ``running`` and its conversation refuses new messages for good.
Waiting runs need nothing: they live in the database and resume when decided.

With several processes nobody knows which of them drives a run, so a run is taken only
once it has been untouched (``updated_at``) for a *lease* (``RUN_LEASE_SECONDS``, 60 s): a
live driver renews it every ``RUN_HEARTBEAT_SECONDS`` (assistant/runs/heartbeat.py), even in
the middle of a long model turn or tool call. The claim is
conditional on the ``updated_at`` that was read, so a run that moves on meanwhile is left
alone. The trade-off: a run cut short is unblocked only after the lease, not at once. The
embedded server, alone by definition, closes every running run at start-up (no lease).

Closing a run also answers the tool calls of its last turn (a call cut off mid-execution
is marked failed, never run again), so the next request to the model is a valid history,
and tells any open socket that the run ended.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.utils import timezone

from assistant.engine import answer_open_calls, run_payload
from assistant.models import Run
from assistant.realtime import Publisher
from tools.pipeline import Pipeline

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
RUN_MESSAGE = "The server stopped while this reply was being written. Ask again."


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
