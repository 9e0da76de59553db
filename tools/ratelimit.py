"""Per-user, per-tool fixed-window rate limits kept in Django's cache.

``add`` then ``incr`` are atomic in every shared cache backend (Redis, Memcached,
local memory), so concurrent callers cannot both slip under the limit.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from tools.definition import RateLimit


async def acquire(tool_name: str, user_id: object, limit: RateLimit) -> float | None:
    """Count one call; return ``None`` if allowed, else seconds until the window resets."""
    now = time.time()
    window = int(now // limit.seconds)
    key = f"toolgate:rl:{tool_name}:{user_id if user_id is not None else 'anon'}:{window}"
    if await cache.aadd(key, 1, timeout=limit.seconds + 1):
        count = 1
    else:
        try:
            count = await cache.aincr(key)
        except ValueError:  # the window's key expired between add and incr
            await cache.aadd(key, 1, timeout=limit.seconds + 1)
            count = 1
    if count > limit.count:
        return round((window + 1) * limit.seconds - now, 3)
    return None
