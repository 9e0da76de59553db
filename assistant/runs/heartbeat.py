"""A live run says so: its driver renews the run's lease while it drives it.

Recovery (assistant/recovery.py) takes a ``running`` run once it has been untouched
(``updated_at``) for ``RUN_LEASE_SECONDS``. Touching it only at each step made the lease
have to outlast the slowest model turn or tool call (it was 600 s), so a dead process's
run blocked its conversation for ten minutes. Now the process driving a run touches it
every ``RUN_HEARTBEAT_SECONDS`` (15) whatever it is doing — streaming, waiting for a tool,
backing off before a retry — so the lease can be short (60 s) and a dead process's run is
closed within about a minute (plus beat's one-minute period), while a live one never is.

The touch is conditional on the run still being ``running``: it never revives a run that
recovery (or anyone) has already moved on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from assistant.models import Run

logger = logging.getLogger(__name__)


def touch(run_id: Any) -> bool:
    """Renew the lease of a run still ``running``; False if it is not any more."""
    return Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(updated_at=timezone.now()) == 1


async def _beat(run_id: Any, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await sync_to_async(touch)(run_id)
        except Exception:  # the database is away: the next beat tries again
            logger.warning("could not renew the lease of run %s", run_id, exc_info=True)


@contextlib.asynccontextmanager
async def beating(run_id: Any) -> AsyncIterator[None]:
    """Renew ``run_id``'s lease in the background while the block runs."""
    every = settings.RUN_HEARTBEAT_SECONDS
    task = asyncio.get_running_loop().create_task(_beat(run_id, every)) if every else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
