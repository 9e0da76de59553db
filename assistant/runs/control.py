"""Stop a run driven in another process: a message on the channel layer.

In production a Celery worker drives the run while the user's Stop arrives at a web
process. The web process sets ``Run.cancel_requested`` (durable: the driver also reads it
at every write and every heartbeat, assistant/runs/heartbeat.py) and sends ``run.cancel``
to the run's control group; the driver listens on that group while it drives, so the
stream stops at once rather than at the next heartbeat.

In the driving process a Stop cancels the driving task once (:func:`stop`) and is also
remembered until the run ends: a library may swallow a cancellation (asgiref's
``sync_to_async`` does when the sync code it ran used ``async_to_sync``), and the run loop
checks :func:`stopping` at every streamed event, so a lost cancellation delays a Stop by
one event instead of losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

CANCEL = "run.cancel"

_stopping: set[str] = set()  # runs driven here that were told to stop


def stop(run_id: Any, task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task``, which drives ``run_id``, once; a second Stop would interrupt the
    run's own cleanup (closing the run and its calls), so it only finds the run remembered."""
    key = str(run_id)
    if task is None or key in _stopping:
        return
    _stopping.add(key)
    task.cancel()


def stopping(run_id: Any) -> bool:
    return str(run_id) in _stopping


def forget(run_id: Any) -> None:
    """The run is no longer driven here."""
    _stopping.discard(str(run_id))


def group_name(run_id: Any) -> str:
    return f"run-control.{run_id}"


async def send_cancel(run_id: Any) -> None:
    """Tell whoever drives ``run_id`` to stop; best effort (the durable flag is the fallback)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group_name(run_id), {"type": CANCEL, "run_id": str(run_id)})
    except Exception:
        logger.warning("could not send the cancel of run %s; its driver reads it at its next beat",
                       run_id, exc_info=True)


async def _listen(layer: Any, channel: str, on_cancel: Callable[[], Any]) -> None:
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis away for a moment: the heartbeat still reads the flag
            logger.warning("the control channel failed; retrying", exc_info=True)
            await asyncio.sleep(1)
            continue
        if message.get("type") == CANCEL:
            on_cancel()


@contextlib.asynccontextmanager
async def listening(run_id: Any, on_cancel: Callable[[], Any]) -> AsyncIterator[None]:
    """Call ``on_cancel`` when a ``run.cancel`` for ``run_id`` arrives, while the block runs."""
    layer = get_channel_layer()
    if layer is None:
        yield
        return
    group = group_name(run_id)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    task = asyncio.get_running_loop().create_task(_listen(layer, channel, on_cancel))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await layer.group_discard(group, channel)
