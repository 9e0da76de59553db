"""The realtime event log in Redis, shared by every process of a deployment.

In production several Daphne servers and Celery workers publish events for the same
conversation (a worker resumes the run an approver unblocked), and a socket may replay
them from any server. So the sequence and the replay buffer cannot live in one process's
memory: each conversation has a counter (``INCR``) and a capped list of its last events
(``RPUSH`` + ``LTRIM``), both expiring ``REALTIME_REPLAY_TTL`` seconds after the last event.

An append and a replay are each one round trip, run as a Lua script so they are atomic:
two processes appending at once can never store events out of seq order, and a replay
never sees a counter ahead of the list (which would look like lost events).

When the counter is missing — the conversation was idle longer than the TTL, or Redis lost
its data — it is started again from ``Conversation.last_seq`` (stored whenever a run ends
or waits). Events of a run still going when Redis lost them may have gone past that value,
so then the counter jumps far ahead: every client sees a gap it cannot fill and is told to
resynchronise, rather than silently ignoring new events whose seqs it has already seen.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import redis.asyncio as redis
from django.conf import settings

from assistant.models import Conversation, Run
from assistant.ops import redis as redis_options

# Far beyond what one run can emit: after Redis lost a running conversation's counter, seqs
# continue past every seq the lost one may have issued.
RESTART_GAP = 1_000_000

_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""

_SINCE = """
local current = redis.call('GET', KEYS[1])
if not current then return {-1} end
current = tonumber(current)
local missing = current - tonumber(ARGV[1])
if missing <= 0 then return {current} end
return {current, redis.call('LRANGE', KEYS[2], -missing, -1)}
"""


class RedisEventLog:
    """Same interface as :class:`assistant.realtime.delivery.MemoryEventLog`: ``append``, ``since``,
    ``last_seq``; usable from any event loop (a Celery task runs each on a new one)."""

    def __init__(self, url: str, *, limit: int, ttl: int, connections: int = 1000) -> None:
        self.url, self.limit, self.ttl, self.connections = url, limit, ttl, connections
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any, Any]] = (
            weakref.WeakKeyDictionary())

    def _redis(self) -> tuple[Any, Any, Any]:
        """(client, append script, since script) for the running loop: a connection belongs
        to the loop that opened it."""
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            # A burst beyond the pool waits for a connection instead of failing the event.
            # Retries and health checks: a Redis restart must not fail the next events.
            pool = redis.BlockingConnectionPool.from_url(
                self.url, max_connections=self.connections, timeout=30,
                **redis_options.async_options(retries=settings.REDIS_RETRIES,
                                              health_check_interval=settings.REDIS_HEALTH_CHECK_INTERVAL))
            client = redis.Redis(connection_pool=pool)
            found = (client, client.register_script(_APPEND), client.register_script(_SINCE))
            self._clients[loop] = found
        return found

    @staticmethod
    def _keys(conversation_id: str) -> list[str]:
        # The {hash tag} keeps both keys in one slot, as a script needs on Redis Cluster.
        return [f"toolgate:events:{{{conversation_id}}}:seq", f"toolgate:events:{{{conversation_id}}}:log"]

    async def append(self, conversation_id: str, event: dict[str, Any]) -> dict[str, Any]:
        _, append, _ = self._redis()
        body = {**event, "conversation_id": conversation_id}
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        keys = self._keys(conversation_id)
        seq = await append(keys=keys, args=[text, self.limit, self.ttl])
        if seq == -1:
            # A run's first event is ``message.created``: nothing of it can have been lost.
            await self._start_counter(conversation_id, lost_events=event["type"] != "message.created")
            seq = await append(keys=keys, args=[text, self.limit, self.ttl])
        return {**body, "seq": int(seq)}

    async def since(self, conversation_id: str, seq: int) -> list[dict[str, Any]] | None:
        """Events after ``seq``, or ``None`` if some of them are no longer kept."""
        _, _, since = self._redis()
        keys = self._keys(conversation_id)
        found = await since(keys=keys, args=[seq])
        if found[0] == -1:
            await self._start_counter(conversation_id)
            found = await since(keys=keys, args=[seq])
        current = int(found[0])
        if seq > current:
            return None  # the client saw seqs this log never issued (or lost): resynchronise
        if seq == current:
            return []
        events = found[1]
        if len(events) < current - seq:
            return None
        return [json.loads(item) for item in events]

    async def last_seq(self, conversation_id: str) -> int:
        client, _, _ = self._redis()
        value = await client.get(self._keys(conversation_id)[0])
        if value is None:
            await self._start_counter(conversation_id)
            value = await client.get(self._keys(conversation_id)[0])
        return int(value)

    async def _start_counter(self, conversation_id: str, *, lost_events: bool = True) -> None:
        """Start a missing counter from the database; of two processes, the first one wins.

        A counter expires only after ``ttl`` seconds without events, far longer than a run
        may go without one, so a run still going then means Redis lost it: jump ahead.
        """
        client, _, _ = self._redis()
        stored = await Conversation.objects.filter(pk=conversation_id).values_list(
            "last_seq", flat=True).afirst() or 0
        running = Run.objects.filter(conversation_id=conversation_id, status=Run.Status.RUNNING)
        if lost_events and await running.aexists():
            stored += RESTART_GAP
        await client.set(self._keys(conversation_id)[0], stored, nx=True, ex=self.ttl)
