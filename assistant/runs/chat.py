"""Start, resume and cancel runs on a user's behalf, as tasks that outlive any socket.

The consumer (and later the approval workers) call these; they hold no protocol code.
Each run gets a :class:`~assistant.realtime.delivery.Publisher` as the engine's ``emit``, so every
tab on the conversation sees the same stream.

Who drives a run: in the embedded default, the process that stored the message (a task on
its event loop). In production (a Celery broker configured) a Celery worker: the web
process stores the message and enqueues ``assistant.tasks.drive_run`` with the run's id,
and the worker's events reach every socket through the channel layer, so a deploy or a
crashed web process does not stop the run (docs/engine.md, *Who drives a run*).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from celery import current_app
from django.utils.translation import gettext as _

from approvals import dispatch
from assistant.models import Conversation, Run
from assistant.ops.budgets import BudgetExceeded
from assistant.realtime.delivery import Publisher
from assistant.runs.engine import Engine
from assistant.runs.payloads import result_payload
from assistant.runs.store import RunInProgress
from assistant.transcript.edits import aedit_for
from tools.models import ToolCall
from tools.pipeline import ToolResult

_tasks: set[asyncio.Task[Any]] = set()
DRIVE_TASK = "assistant.tasks.drive_run"

# A message is the user's own words, kept verbatim: rather than store a character it cannot
# keep (tools.dbfields), it is refused with this, and the user decides what to send instead.
UNSTORABLE_MESSAGE = ("The message was not sent: it contains a NUL character (U+0000) or an "
                      "unpaired surrogate, which cannot be stored. Remove it and send it again.")


@dataclass
class Submitted:
    run_id: str | None = None
    error: tuple[str, str] | None = None


def engine_for(conversation_id: Any) -> Engine:
    # With Celery, runs are driven by workers: a Stop reaches them over the channel layer.
    return Engine(emit=Publisher(conversation_id), remote_cancel=dispatch.uses_celery())


def _background(coro: Any) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def submit(conversation: Conversation, user: Any, content: str, *, client_id: Any) -> Submitted:
    engine = engine_for(conversation.pk)
    try:
        started = await engine.start(conversation, user, content, client_id=client_id,
                                     drive_here=not dispatch.uses_celery())
    except RunInProgress:
        return Submitted(error=("run_in_progress",
                                _("A reply is still in progress; wait for it or stop it first.")))
    except BudgetExceeded as exc:  # today's token budget is spent: the message is not stored
        return Submitted(error=(exc.code, exc.message))
    if not started.created:
        return Submitted(str(started.run.pk), ("duplicate_message", _("This message was already received.")))
    if dispatch.uses_celery():  # a worker drives it (the message and run are committed)
        await sync_to_async(enqueue)(started.run.pk)
    else:
        _background(engine.drive(started.run, user))
    return Submitted(str(started.run.pk))


def enqueue(run_id: Any) -> None:
    """Have a Celery worker drive the run (idempotent: the worker takes the run with a
    conditional update, so a second delivery does nothing)."""
    current_app.send_task(DRIVE_TASK, args=[str(run_id)])


async def carry_on(run_id: Any) -> Run | None:
    """Drive a running run nobody drives, from its last durable step (a worker's task, or
    the embedded server continuing runs its previous process left)."""
    run = await Run.objects.filter(pk=run_id).afirst()
    if run is None:
        return None
    return await engine_for(run.conversation_id).carry_on(run_id)


def continue_here(run_id: Any) -> None:
    """Continue the run on this process's event loop (the embedded server at start-up)."""
    _background(carry_on(run_id))


def continue_soon(run_id: Any) -> None:
    """Continue a run handed back by recovery: a worker's task, or this server's loop."""
    if dispatch.uses_celery():
        enqueue(run_id)
    else:
        dispatch.run_soon(carry_on, run_id)


async def resume_in_background(run_id: Any) -> None:
    run = await Run.objects.aget(pk=run_id)
    _background(engine_for(run.conversation_id).resume(run_id))


async def cancel_active(conversation: Conversation) -> bool:
    run = await conversation.runs.filter(status__in=[Run.Status.RUNNING, Run.Status.WAITING]).afirst()
    if run is None:
        return False
    await engine_for(conversation.pk).cancel(run.pk)
    return True


async def on_call_settled(sender: Any, *, tool_call_id: int, run_id: str, conversation_id: str,
                          decision: str, reason: str, **kwargs: Any) -> None:
    """A parked call got its final result (approvals.signals.call_settled): tell every tab,
    then continue the run — here, in whichever process carried the decision out."""
    if not run_id or not conversation_id:
        return
    publisher = Publisher(conversation_id)
    record = await ToolCall.objects.aget(pk=tool_call_id)
    payload = result_payload(ToolResult.from_record(record))
    edited = await aedit_for(record)  # issue 14: the card shows what ran, not what was asked
    if edited is not None:
        payload["edited"] = edited
    await publisher({"type": "approval.decided", "tool_call": payload, "decision": decision,
                     "reason": reason})
    await Engine(emit=publisher, remote_cancel=dispatch.uses_celery()).resume(run_id)


async def wait_idle() -> None:
    """Wait for every background run of this process (tests and graceful shutdown)."""
    while _tasks:
        await asyncio.wait(list(_tasks))
