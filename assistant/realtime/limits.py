"""How many chat sockets one user may hold open at once (``REALTIME_MAX_SOCKETS_PER_USER``).

Every open socket costs a channel-layer group membership, a replay on connect and a
consumer's memory; one user opened 60 on one conversation (issue 10.6). Over the limit a
new socket is closed with :data:`CLOSE_TOO_MANY` (4429) and a reason, and the browser
stops reconnecting.

Where the count lives decides its scope:

* embedded (no ``REDIS_URL``): in this process's memory — exact, and all there is, since
  one process serves every socket;
* production (``REDIS_URL``): in Redis, one sorted set per user shared by every Daphne
  process. Each socket holds a *lease* there that it renews every ``LEASE / 3`` seconds, so
  the sockets of a process that died without closing them stop counting within ``LEASE``
  seconds instead of locking their user out for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

from django.conf import settings

from assistant.ops import redis as redis_options

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY = 4429
LEASE = 60.0  # seconds a socket's place in Redis lasts without renewal

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class Slots(Protocol):
    lease: float | None  # seconds between renewals needed, or None when places never lapse

    async def acquire(self, user_id: int, socket: str, limit: int) -> bool: ...
    async def renew(self, user_id: int, socket: str) -> None: ...
    async def release(self, user_id: int, socket: str) -> None: ...
    async def count(self, user_id: int) -> int: ...


class MemorySlots:
    """Open sockets per user in this process. Each method runs without awaiting, so on the
    server's one event loop a check and its update can never interleave with another's."""

    lease = None

    def __init__(self) -> None:
        self._held: dict[int, set[str]] = {}

    async def acquire(self, user_id: int, socket: str, limit: int) -> bool:
        held = self._held.setdefault(user_id, set())
        if socket not in held and len(held) >= limit:
            return False
        held.add(socket)
        return True

    async def renew(self, user_id: int, socket: str) -> None:
        return None

    async def release(self, user_id: int, socket: str) -> None:
        held = self._held.get(user_id)
        if held is not None:
            held.discard(socket)
            if not held:
                del self._held[user_id]

    async def count(self, user_id: int) -> int:
        return len(self._held.get(user_id, ()))


class RedisSlots:
    """Open sockets per user in Redis: a sorted set of socket names scored by when their
    lease ends. Taking a place drops lapsed leases, counts and adds in one Lua script, so
    two processes can never both take the last place."""

    lease = LEASE

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary())

    def _redis(self) -> tuple[Any, Any]:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            # The same defences against a Redis restart as every other client (assistant/ops/redis.py).
            client = redis.Redis.from_url(self.url, **redis_options.async_options(
                retries=settings.REDIS_RETRIES, health_check_interval=settings.REDIS_HEALTH_CHECK_INTERVAL))
            found = self._clients[loop] = (client, client.register_script(_ACQUIRE))
        return found

    @staticmethod
    def _key(user_id: int) -> str:
        return f"toolgate:sockets:{user_id}"

    async def acquire(self, user_id: int, socket: str, limit: int) -> bool:
        _, script = self._redis()
        now = time.time()
        taken = await script(keys=[self._key(user_id)],
                             args=[now, limit, socket, now + self.lease, int(self.lease) + 1])
        return bool(taken)

    async def renew(self, user_id: int, socket: str) -> None:
        client, _ = self._redis()
        key = self._key(user_id)
        await client.zadd(key, {socket: time.time() + self.lease}, xx=True)
        await client.expire(key, int(self.lease) + 1)

    async def release(self, user_id: int, socket: str) -> None:
        client, _ = self._redis()
        await client.zrem(self._key(user_id), socket)

    async def count(self, user_id: int) -> int:
        """Sockets whose lease has not lapsed."""
        client, _ = self._redis()
        return int(await client.zcount(self._key(user_id), f"({time.time()}", "+inf"))


_slots: Slots | None = None


def slots() -> Slots:
    """This process's memory, or with ``REDIS_URL`` the count every process shares."""
    global _slots
    if _slots is None:
        _slots = RedisSlots(settings.REDIS_URL) if settings.REDIS_URL else MemorySlots()
    return _slots


def reset() -> None:
    """Forget the counts (tests, as after a restart)."""
    global _slots
    _slots = None


class Lease:
    """One socket's place: taken on connect, renewed while open, given back on close."""

    def __init__(self, user_id: int, socket: str) -> None:
        self.user_id, self.socket = user_id, socket
        self._renewal: asyncio.Task[None] | None = None
        self.held = False

    async def take(self) -> bool:
        limit = settings.REALTIME_MAX_SOCKETS_PER_USER
        if limit == 0:
            return True  # no limit
        store = slots()
        self.held = await store.acquire(self.user_id, self.socket, limit)
        if self.held and store.lease is not None:
            self._renewal = asyncio.ensure_future(self._renew(store, store.lease / 3))
        return self.held

    async def _renew(self, store: Slots, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await store.renew(self.user_id, self.socket)
            except Exception:  # Redis away for a moment: the next renewal tries again
                logger.warning("renewing the socket lease of user %s failed", self.user_id, exc_info=True)

    async def give_back(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        if self.held:
            self.held = False
            try:
                await slots().release(self.user_id, self.socket)
            except Exception:  # Redis away: the lease lapses by itself within LEASE seconds
                logger.warning("giving back the socket lease of user %s failed", self.user_id, exc_info=True)
