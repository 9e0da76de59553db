"""Holding an MCP request open while its call waits for a human decision.

The request waits for the call's record to be settled (run after approval, denied,
expired or cancelled). It is woken at once when the decision is carried out in this
process (``approvals.signals.call_settled``) or, through the channel layer, in another
one (Redis in production) — it looks at the record again once it listens to the call's
group, so no decision falls between a look and the subscription; and it looks at the record every
``MCP_SERVER_POLL_SECONDS`` anyway, so a decision carried out by a process it cannot hear (two embedded-mode
processes share only the database) still reaches it. Between looks it sends keep-alives.

Cancelling (``notifications/cancelled``) closes the parked call without running it: the
record becomes ``denied`` and its approval request ``cancelled``, both audited. It never
touches a task's call: a task's request was answered already, and the protocol cancels a
task with ``tasks/cancel`` only (``tasks``). A client
that merely goes away cancels nothing: the call stays in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from tools.models import ToolCall
from tools.pipeline import Pipeline

logger = logging.getLogger(__name__)

OPEN = (ToolCall.Status.PENDING, ToolCall.Status.RUNNING)
CANCEL_RULE = "mcp:cancelled"
CANCEL_REASON = "the MCP client cancelled the request"

_waiters: dict[int, set[asyncio.Event]] = {}


def group(record_id: int) -> str:
    return f"mcp.call.{record_id}"


def _wake_here(record_id: int) -> None:
    for event in _waiters.get(record_id, ()):
        event.set()


async def wake(record_id: int) -> None:
    """Tell every request waiting on this call, here and (through the channel layer) elsewhere."""
    _wake_here(record_id)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group(record_id), {"type": "mcp.settled", "record": record_id})
    except Exception:  # the poll still finds it
        logger.warning("could not announce settled call %s", record_id, exc_info=True)


async def on_call_settled(sender: Any, *, tool_call_id: int, **kwargs: Any) -> None:
    """``approvals.signals.call_settled`` receiver."""
    await wake(tool_call_id)


async def _listen(record_id: int, event: asyncio.Event, subscribed: asyncio.Future[None]) -> None:
    """Set ``event`` whenever the call's group hears of it; ``subscribed`` once it listens."""
    layer = get_channel_layer()
    if layer is None:
        subscribed.set_result(None)
        return
    try:
        channel = await layer.new_channel()
        await layer.group_add(group(record_id), channel)
    except Exception:  # the poll still finds it
        logger.warning("could not listen for call %s; polling its record instead", record_id, exc_info=True)
        return
    subscribed.set_result(None)
    try:
        while True:
            await layer.receive(channel)
            event.set()
    except Exception:
        logger.warning("stopped listening for call %s; polling its record instead", record_id, exc_info=True)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(layer.group_discard(group(record_id), channel))


async def wait_settled(record_id: int, keepalive: Callable[[float], Awaitable[None]]) -> ToolCall:
    """The record once it is no longer pending or running; ``keepalive(seconds_waited)``
    is awaited every ``MCP_SERVER_KEEPALIVE_SECONDS`` meanwhile."""
    event = asyncio.Event()
    _waiters.setdefault(record_id, set()).add(event)
    subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    listener = asyncio.ensure_future(_listen(record_id, event, subscribed))
    start = last_alive = time.monotonic()
    try:
        record = await ToolCall.objects.aget(pk=record_id)
        if record.status not in OPEN:  # (a task's outcome, fetched later)
            return record
        # Listening, then a fresh look at the record: a decision carried out between the
        # look and the subscription would announce itself to no one, and the request would
        # wait for the next poll. A layer that cannot subscribe (Redis down: the listener
        # ends) or is slow leaves the poll to find it.
        await asyncio.wait({subscribed, listener}, timeout=settings.MCP_SERVER_POLL_SECONDS,
                           return_when=asyncio.FIRST_COMPLETED)
        while True:
            record = await ToolCall.objects.aget(pk=record_id)
            if record.status not in OPEN:
                return record
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), settings.MCP_SERVER_POLL_SECONDS)
            event.clear()
            now = time.monotonic()
            if now - last_alive >= settings.MCP_SERVER_KEEPALIVE_SECONDS:
                last_alive = now
                try:
                    await keepalive(now - start)
                except Exception:  # a keep-alive that cannot be sent must not lose the result
                    logger.debug("keep-alive for call %s failed", record_id, exc_info=True)
    finally:
        listener.cancel()
        waiters = _waiters.get(record_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                _waiters.pop(record_id, None)


async def cancel(token_id: int, request_id: str) -> int | None:
    """Cancel the parked call that the MCP request ``request_id`` of this token waits on.

    Returns the record's id, or ``None`` when there is nothing parked to cancel (unknown
    request, already decided, or running: a running call always finishes and is recorded).
    """
    record = await ToolCall.objects.filter(
        status=ToolCall.Status.PENDING, scope__source="mcp", scope__mcp__token=token_id,
        scope__mcp__request_id=request_id,
    ).exclude(scope__mcp__has_key="task").order_by("-pk").afirst()  # a task is cancelled by tasks/cancel
    if record is None:
        return None
    result = await Pipeline().deny_pending(record.pk, CANCEL_REASON, rule=CANCEL_RULE)
    await wake(record.pk)
    return result.record_id
