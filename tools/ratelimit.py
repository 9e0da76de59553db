"""Per-user, per-tool fixed-window rate limits kept in Django's cache.

``add`` then ``incr`` are atomic in every shared cache backend (Redis, Memcached, local
memory), so concurrent callers cannot both slip under the limit. The *sync* methods are
used on purpose: Django's generic ``aincr`` is a ``get`` followed by a ``set``, which
concurrent coroutines can interleave, so twenty simultaneous calls would all get through.
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.core.cache import cache

from tools.definition import RateLimit


def _count(key: str, timeout: int) -> int:
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window's key expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


async def acquire(tool_name: str, user_id: object, limit: RateLimit) -> float | None:
    """Count one call; return ``None`` if allowed, else seconds until the window resets."""
    now = time.time()
    window = int(now // limit.seconds)
    key = f"toolgate:rl:{tool_name}:{user_id if user_id is not None else 'anon'}:{window}"
    count = await sync_to_async(_count)(key, limit.seconds + 1)
    if count > limit.count:
        return round((window + 1) * limit.seconds - now, 3)
    return None
