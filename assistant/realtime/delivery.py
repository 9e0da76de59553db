"""Deliver a conversation's events to every socket watching it: in order, gap-free, replayable.

Every event gets a per-conversation, strictly increasing ``seq`` and is appended to an
event log before it is fanned out through the channel layer. A socket that reconnects with
its last ``seq`` is replayed what it missed from the log; a socket that sees a gap in the
live stream (a full channel dropped a message) fills it from the log too. Runs are not
tied to sockets: the publisher keeps going when every tab is closed.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from assistant.models import Conversation
from assistant.transcript.rendering import render_markdown

if TYPE_CHECKING:
    from assistant.realtime.redis_log import RedisEventLog

GROUP_PREFIX = "conv."
# Events that are fanned out but never logged: replay must not repeat them (docs/protocol.md).
EPHEMERAL = frozenset({"tool.call.delta"})
# Seconds the engine pauses after a reply's first delta, so that it reaches the sockets
# (a few loop turns through the channel layer and the server) before the rest of a burst
# is parsed. Paid once per model turn.
FIRST_DELTA_PAUSE = 0.001


def group_name(conversation_id: Any) -> str:
    return f"{GROUP_PREFIX}{conversation_id}"


class MemoryEventLog:
    """The embedded event log: the last ``limit`` events of each conversation, in this process.

    The sequence continues from ``Conversation.last_seq`` after a restart, so it stays
    strictly increasing; events from before the restart are not replayable, and a client
    asking for them is told to resynchronise from the page.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: dict[str, collections.deque[dict[str, Any]]] = {}
        self._seq: dict[str, int] = {}

    async def append(self, conversation_id: str, event: dict[str, Any]) -> dict[str, Any]:
        seq = self._seq[conversation_id] = await self._current(conversation_id) + 1
        stamped = {**event, "conversation_id": conversation_id, "seq": seq}
        self._events.setdefault(conversation_id, collections.deque(maxlen=self.limit)).append(stamped)
        return stamped

    async def since(self, conversation_id: str, seq: int) -> list[dict[str, Any]] | None:
        """Events after ``seq``, or ``None`` if some of them are no longer kept."""
        current = await self._current(conversation_id)
        if seq > current:
            # The client saw events this log never issued: a restart during a run lost the
            # seqs stamped after the last stored one, and they will be issued again.
            return None
        if seq == current:
            return []
        # The kept events are consecutive and end at ``current``: take the last few from
        # the right, without scanning a long conversation's whole log on every gap.
        events = self._events.get(conversation_id)
        missing = current - seq
        if not events or len(events) < missing:
            return None
        return list(itertools.islice(reversed(events), missing))[::-1]

    async def last_seq(self, conversation_id: str) -> int:
        return await self._current(conversation_id)

    async def _current(self, conversation_id: str) -> int:
        """The last seq issued, read from the database once per conversation and process.

        A socket connecting reads it, so the first event of its next run does not wait
        for the database. Once known it is returned without suspending, so appends stay
        atomic; two first readers may both read, and ``setdefault`` keeps whichever was
        first (never a value that would undo appends made meanwhile). No lock: this log
        may be reached from more than one event loop (``async_to_sync`` callers).
        """
        if conversation_id not in self._seq:
            stored = await _stored_seq(conversation_id)
            self._seq.setdefault(conversation_id, stored)
        return self._seq[conversation_id]


async def _stored_seq(conversation_id: str) -> int:
    value = await Conversation.objects.filter(pk=conversation_id).values_list("last_seq", flat=True).afirst()
    return value or 0


_log: MemoryEventLog | RedisEventLog | None = None


def event_log() -> MemoryEventLog | RedisEventLog:
    """This process's memory, or with REDIS_URL the log every process shares (production)."""
    global _log
    if _log is None:
        if settings.REDIS_URL:
            from assistant.realtime.redis_log import RedisEventLog

            _log = RedisEventLog(settings.REDIS_URL, limit=settings.REALTIME_REPLAY_EVENTS,
                                 ttl=settings.REALTIME_REPLAY_TTL, connections=settings.REDIS_MAX_CONNECTIONS)
        else:
            _log = MemoryEventLog(limit=settings.REALTIME_REPLAY_EVENTS)
    return _log


class Publisher:
    """The engine's ``emit`` for one conversation: stamp, log, fan out.

    Text deltas that come in a burst are merged. A provider hands over every token it has
    buffered without the event loop turning (a fast model, or a network read that caught
    up several chunks); one event per token then costs the log, the channel layer and the
    socket a message each, and delivery falls far behind the model. So the first delta of a
    loop turn is published at once (time to first token and a trickling model are
    unaffected), and further deltas of the same message in that turn are held and
    published as one when the loop turns over, or before any other event (order is kept).
    Seqs are stamped when an event is published, so they stay consecutive.
    """

    def __init__(self, conversation_id: Any) -> None:
        self.conversation_id = str(conversation_id)
        self.layer = get_channel_layer()
        self.group = group_name(conversation_id)
        self._held: dict[str, Any] | None = None
        self._held_text: list[str] = []
        self._turn_busy = False
        self._flush: asyncio.Task[None] | None = None
        self._replying: str | None = None
        self._previous: asyncio.Future[None] | None = None  # the publish called before this one
        self._last_seq: int | None = None  # of the last logged event (ephemeral events name it)

    async def __call__(self, event: dict[str, Any]) -> None:
        if event["type"] == "assistant.delta":
            await self._delta(event)
            return
        await self._release()
        if event["type"] in EPHEMERAL:
            await self._publish_ephemeral(event)
            return
        await self._publish(event)

    async def _publish_ephemeral(self, event: dict[str, Any]) -> None:
        """Fan out without logging or a seq (issue 16: streamed tool-call arguments).

        The event carries ``after_seq``, the seq of the last logged event before it: a
        socket passes it on only when that is exactly what it sent last, i.e. when it is
        live and caught up, so an ephemeral event never overtakes a replay. A socket that
        connects later gets the complete arguments from the logged ``tool.call`` instead.
        """
        previous, done = self._previous, asyncio.get_running_loop().create_future()
        self._previous = done
        try:
            if previous is not None:
                await previous
            if self._last_seq is None:
                self._last_seq = await event_log().last_seq(self.conversation_id)
            stamped = {**event, "conversation_id": self.conversation_id, "after_seq": self._last_seq}
            if self.layer is not None:
                await self.layer.group_send(self.group, {"type": "conversation.ephemeral", "event": stamped})
        finally:
            done.set_result(None)

    async def _delta(self, event: dict[str, Any]) -> None:
        held = self._held
        if held is not None and held["message_id"] == event["message_id"]:
            self._held_text.append(event["delta"])
            return
        await self._release()
        if self._turn_busy:
            self._held, self._held_text = event, [event["delta"]]
            return
        await self._publish(event)
        self._start_turn()
        if event["message_id"] != self._replying:
            # A reply's first piece: let the sockets send it before the engine goes on
            # parsing whatever else the provider had buffered (time to first token).
            self._replying = event["message_id"]
            await asyncio.sleep(FIRST_DELTA_PAUSE)

    def _start_turn(self) -> None:
        if not self._turn_busy:
            self._turn_busy = True
            asyncio.get_running_loop().call_soon(self._end_turn)

    def _end_turn(self) -> None:
        self._turn_busy = False
        if self._held is not None and (self._flush is None or self._flush.done()):
            self._flush = asyncio.get_running_loop().create_task(self._release())

    async def _release(self) -> None:
        """Publish the held deltas, if any, as one."""
        held = self._held
        if held is None:
            return
        text, self._held, self._held_text = "".join(self._held_text), None, []
        await self._publish({**held, "delta": text})
        self._start_turn()

    async def _publish(self, event: dict[str, Any]) -> None:
        # The log's append may suspend (Redis, in production): each publish waits for the one
        # called before it (a flush of held deltas, say), so seqs follow the order of the calls.
        previous, done = self._previous, asyncio.get_running_loop().create_future()
        self._previous = done
        try:
            if previous is not None:
                await previous
            if event["type"] == "assistant.message":
                message = event["message"]
                event = {**event, "message": {**message, "html": render_markdown(message["content"])}}
            stamped = await event_log().append(self.conversation_id, event)
            self._last_seq = stamped["seq"]
            if event["type"] in ("run.finished", "run.waiting"):
                await sync_to_async(_store_seq)(self.conversation_id, stamped["seq"])
            if self.layer is not None:
                await self.layer.group_send(self.group, {"type": "conversation.event", "event": stamped})
        finally:
            done.set_result(None)


def _store_seq(conversation_id: str, seq: int) -> None:
    Conversation.objects.filter(pk=conversation_id, last_seq__lt=seq).update(last_seq=seq)
