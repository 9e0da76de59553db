"""Close runs that a stopped process left ``running``, safely while other processes serve.

A run is driven by a task in one process (a Daphne server, or the Celery worker that
resumed it after an approval). If that process stops mid-run — a deploy's SIGTERM, a
crash — the run stays ``running`` and its conversation refuses new messages for good.
Waiting runs need nothing: they live in the database and resume when decided.

With several processes nobody knows which of them drives a run, so a run is taken only
once it has been untouched (``updated_at``) for a *lease* (``RUN_LEASE_SECONDS``), longer
than any model turn or tool call: a live driver touches it at every step. The claim is
conditional on the ``updated_at`` that was read, so a run that moves on meanwhile is left
alone. The trade-off: a run cut short is unblocked only after the lease, not at once. The
embedded server, alone by definition, closes every running run at start-up (no lease).

Closing a run also answers the tool calls of its last turn (a call cut off mid-execution
is marked failed, never run again), so the next request to the model is a valid history,
and tells any open socket that the run ended.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.utils import timezone

from assistant import store
from assistant.engine import run_payload, tool_result_part
from assistant.models import Run
from assistant.realtime import Publisher
from tools.errors import ErrorType, ToolError
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolResult

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
    _answer_open_calls(run)
    try:
        async_to_sync(_announce)(run)
    except Exception:  # the run is closed either way; a page reload shows it
        logger.warning("could not tell the sockets of run %s", run.pk, exc_info=True)
    return True


def _answer_open_calls(run: Run) -> None:
    turn = store.last_assistant_turn(run)
    if turn is None or not turn.tool_calls or store.has_tool_turn_after(turn):
        return
    records = {link.call_id: record for link, record in store.tool_records(turn)}
    results = []
    for call in turn.tool_calls:
        record = records.get(call["id"])
        if record is not None and record.status == ToolCall.Status.PENDING:
            async_to_sync(Pipeline().deny_pending)(record.pk, "the run was interrupted", rule=INTERRUPTED)
            record.refresh_from_db()
        elif record is not None and record.status == ToolCall.Status.RUNNING:
            _fail_running(record)
            record.refresh_from_db()
        if record is not None and record.is_terminal:
            results.append(tool_result_part(ToolResult.from_record(record)))
        else:
            body = {"error": {"type": "execution_error",
                              "message": "the server stopped before this call finished"}}
            results.append({"call_id": call["id"], "name": call["name"], "content": json.dumps(body),
                            "is_error": True})
    store.save_tool_turn(run, results)


def _fail_running(record: ToolCall) -> None:
    from tools.journal import note

    error = ToolError(ErrorType.EXECUTION_ERROR, (
        f"the server running {record.tool_name} stopped before it finished; it was not run again "
        "because it may already have had its effect"), hint="Tell the user; they can ask again.")
    if record.claim(ToolCall.Status.RUNNING, ToolCall.Status.FAILED, error=error.as_dict(),
                    error_type=str(error.type), finished_at=timezone.now()):
        note("finished", record)


async def _announce(run: Run) -> None:
    publish = Publisher(run.conversation_id)
    await publish({"type": "error", "code": INTERRUPTED, "message": RUN_MESSAGE})
    await publish({"type": "run.finished", "run": run_payload(run)})
