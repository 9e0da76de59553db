"""A live run says so: its driver renews the run's lease while it drives it.

Recovery (assistant/runs/recovery.py) takes a ``running`` run once it has been untouched
(``updated_at``) for ``RUN_LEASE_SECONDS``. Touching it only at each step made the lease
have to outlast the slowest model turn or tool call (it was 600 s), so a dead process's
run blocked its conversation for ten minutes. Now the process driving a run touches it
every ``RUN_HEARTBEAT_SECONDS`` (15) whatever it is doing — streaming, waiting for a tool,
backing off before a retry — so the lease can be short (60 s) and a dead process's run is
taken over within about a minute (plus beat's one-minute period), while a live one never is.

The touch is conditional on the run still being ``running`` and held by this driver
(assistant/runs/driver.py): it never revives a run that recovery (or anyone) has moved on.
Each beat also reads ``cancel_requested`` — a Stop asked for in another process reaches a
driver within one beat even if the channel-layer message (assistant/runs/control.py) was
lost — and notices a run taken by another driver, so this one stops without writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from assistant.models import Run

logger = logging.getLogger(__name__)

ALIVE, CANCEL, LOST, ENDED = "alive", "cancel", "lost", "ended"


def touch(run_id: Any, driver: str | None = None) -> bool:
    """Renew the lease of a run still ``running`` (and held by ``driver``, when given);
    False if it is not any more."""
    runs = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING)
    if driver is not None:
        runs = runs.filter(driver=driver)
    return runs.update(updated_at=timezone.now()) == 1


def beat_once(run_id: Any, driver: str | None) -> str:
    """One beat: ``alive``, ``cancel`` (someone asked to stop the run), ``lost`` (another
    driver holds it now) or ``ended`` (it is not running any more)."""
    if touch(run_id, driver):
        cancel = Run.objects.filter(pk=run_id).values_list("cancel_requested", flat=True).first()
        return CANCEL if cancel else ALIVE
    row = Run.objects.filter(pk=run_id).values_list("status", "driver").first()
    if row is not None and row[0] == Run.Status.RUNNING and driver is not None and row[1] != driver:
        return LOST
    return ENDED


async def _beat(run_id: Any, every: float, driver: str | None,
                on_cancel: Callable[[], Any] | None, on_lost: Callable[[], Any] | None) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            state = await sync_to_async(beat_once)(run_id, driver)
        except Exception:  # the database is away: the next beat tries again
            logger.warning("could not renew the lease of run %s", run_id, exc_info=True)
            continue
        if state == CANCEL and on_cancel is not None:
            on_cancel()
        elif state == LOST and on_lost is not None:
            logger.warning("run %s is driven by another process now; this one stops", run_id)
            on_lost()
            return
        elif state == ENDED:
            return


@contextlib.asynccontextmanager
async def beating(run_id: Any, driver: str | None = None, *, on_cancel: Callable[[], Any] | None = None,
                  on_lost: Callable[[], Any] | None = None) -> AsyncIterator[None]:
    """Renew ``run_id``'s lease in the background while the block runs."""
    every = settings.RUN_HEARTBEAT_SECONDS
    task = (asyncio.get_running_loop().create_task(_beat(run_id, every, driver, on_cancel, on_lost))
            if every else None)
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
