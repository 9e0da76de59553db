"""Drive one chat run for an API request and hand its events back, as JSON or as SSE.

The run is driven by the same :class:`~assistant.runs.engine.Engine` as a WebSocket message,
with the conversation's :class:`~assistant.realtime.delivery.Publisher` as ``emit``: open browser
tabs see the reply stream too, and every event is stamped with the conversation's ``seq``
exactly as on the socket. The request reads a copy of those stamped events from a queue
(:class:`_Tap`). The run is a background task, not the request's: a client that hangs up
does not cancel it (as closing a tab does not), and it ends ``run.finished`` — or
``run.waiting`` when a call waits for approval; the run then continues after the
decision, visible over the WebSocket and through ``GET /api/v1/conversations/{id}``.

In production a Celery worker drives the run (docs/engine.md, *Who drives a run*): the
request then reads the run's events from the conversation's channel-layer group, which it
joins before the run is enqueued, as a socket would.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from approvals import dispatch
from approvals.models import ApprovalRequest
from assistant.api.errors import ApiError
from assistant.models import Conversation, Run
from assistant.realtime.delivery import Publisher, group_name
from assistant.runs import chat
from assistant.runs.engine import Engine
from assistant.runs.store import RunInProgress

LAST_EVENTS = frozenset({"run.finished", "run.waiting"})
KEEPALIVE_SECONDS = 15.0  # an SSE comment while nothing happens, so proxies keep the stream open


class _Tap:
    """Stands in for the channel layer in one Publisher: forwards every message and keeps
    a copy of its stamped event for the request."""

    def __init__(self, layer: Any, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.layer, self.queue = layer, queue

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.queue.put_nowait(message["event"])
        if self.layer is not None:
            await self.layer.group_send(group, message)


class RunStream:
    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        publisher = Publisher(conversation.pk)
        publisher.layer = _Tap(publisher.layer, self.queue)
        self.engine = Engine(emit=publisher)
        self._relay: asyncio.Task[Any] | None = None

    async def start(self, user: Any, content: str, client_id: Any) -> Run:
        """Store the message and start the run in the background; 409 if that cannot be."""
        try:
            started = await self.engine.start(self.conversation, user, content, client_id=client_id,
                                              drive_here=not dispatch.uses_celery())
        except RunInProgress as exc:
            raise ApiError(409, "run_in_progress",
                           "A reply is still in progress in this conversation; wait for it or stop it first.",
                           {"run_id": str(exc.run.pk), "status": exc.run.status}) from None
        except Exception as exc:
            # The daily token budget (assistant.ops.budgets.BudgetExceeded), told by its code so
            # this module does not depend on how budgets are configured.
            if getattr(exc, "code", None) != "budget_exceeded":
                raise
            details = {"used": getattr(exc, "used", None), "limit": getattr(exc, "limit", None)}
            raise ApiError(429, "budget_exceeded", str(exc), details) from None
        if not started.created:
            raise ApiError(409, "duplicate_message", "This message (client_id) was already received.",
                           {"run_id": str(started.run.pk)})
        if dispatch.uses_celery():  # a worker drives it: its events arrive over the channel layer
            await self._listen()
            await sync_to_async(chat.enqueue)(started.run.pk)
        else:
            _run_in_background(self.engine.drive(started.run, user))
        return started.run

    async def _listen(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = group_name(self.conversation.pk)
        await layer.group_add(group, channel)

        async def relay() -> None:
            try:
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") in ("conversation.event", "conversation.ephemeral"):
                        self.queue.put_nowait(message["event"])
            finally:
                await layer.group_discard(group, channel)

        self._relay = asyncio.get_running_loop().create_task(relay(), context=contextvars.Context())

    def _stop_listening(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            self._relay = None

    async def events(self) -> AsyncIterator[dict[str, Any] | None]:
        """The run's events up to its last one; ``None`` after each quiet spell (keep-alive)."""
        try:
            while True:
                try:
                    event = await asyncio.wait_for(self.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                yield event
                if event["type"] in LAST_EVENTS:
                    return
        finally:
            self._stop_listening()

    async def sse(self) -> AsyncIterator[str]:
        yield ": run started\n\n"
        async for event in self.events():
            yield ": keep-alive\n\n" if event is None else sse_frame(event)

    async def reply(self) -> dict[str, Any]:
        """The run's outcome once it stops: its state, the answer, and its tool calls."""
        message, calls, run = None, {}, {}
        async for event in self.events():
            if event is None:
                continue
            kind = event["type"]
            if kind == "assistant.message":
                message = event["message"]
            elif kind in ("tool.result", "approval.requested"):
                calls[event["tool_call"]["id"]] = dict(event["tool_call"])
            elif kind in LAST_EVENTS:
                run = event["run"]
        pending = {c["record_id"]: c for c in calls.values()
                   if c["status"] == "pending" and c.get("record_id")}
        async for approval in ApprovalRequest.objects.filter(tool_call_id__in=list(pending)):
            pending[approval.tool_call_id]["approval_id"] = approval.pk
        return {"run": run, "message": message, "tool_calls": list(calls.values())}


def _run_in_background(coro: Any) -> asyncio.Task[Any]:
    """Drive the run as a task of its own, in a fresh context, counted by ``chat.wait_idle``.

    Not the request's context: a sync-only middleware runs the view inside asgiref's
    ``async_to_sync``, whose thread executor the view's context points at and which quits
    when the request ends; the run's database calls would then fail ("CurrentThreadExecutor
    already quit") as soon as the response has been sent, i.e. during every event stream.
    """
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    chat._tasks.add(task)  # shared with the socket's runs: wait_idle() waits for both
    task.add_done_callback(chat._tasks.discard)
    return task


def sse_frame(event: dict[str, Any]) -> str:
    """``id: <seq>``, ``event: <type>``, ``data: <the event as one JSON line>``."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    seq = f"id: {event['seq']}\n" if "seq" in event else ""
    return f"{seq}event: {event['type']}\ndata: {data}\n\n"
