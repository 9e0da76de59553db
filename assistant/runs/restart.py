"""The embedded server continues the runs its previous process left running.

In the embedded default one process drives every run, so a run still ``running`` when the
server starts was cut off by the previous process (a restart, a crash, ``kill -9``). At its
first request — a page load, the browser's reconnecting socket, a health probe — the
server hands each such run back (assistant/runs/recovery.py, no lease: nobody else drives runs
here) and continues it on its own loop from its last durable step (``Engine.carry_on``).
With Celery, workers drive runs and beat's recovery does this instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from approvals import dispatch
from assistant.runs import chat, recovery

logger = logging.getLogger(__name__)

_started: set[asyncio.Task[Any]] = set()


def start() -> None:
    """Called once, on the server's loop, by the ASGI app's first request."""
    if dispatch.uses_celery() or not settings.RUN_CONTINUE_ON_START:
        return
    task = asyncio.get_running_loop().create_task(continue_left_runs(timezone.now()))
    _started.add(task)
    task.add_done_callback(_started.discard)


async def continue_left_runs(before: Any) -> int:
    """Continue every run left ``running`` before ``before`` (this process's start)."""
    taken: list[Any] = []
    try:
        await sync_to_async(recovery.recover)(None, taken.append, before=before)
    except Exception:
        logger.exception("could not continue the runs the previous server left running")
        return 0
    for run_id in taken:
        chat.continue_here(run_id)
    return len(taken)
