"""Who may use a server's tools: the groups an administrator allowed on the server.

Checked for every tool of the server before anything else (``Tool.access``), so a user
outside those groups is never offered the tools and cannot call them. Per-tool groups are
a ToolPolicy on the tool's name, like any other tool's. A user's group ids are read once
and kept on the user object for a couple of seconds, so listing hundreds of a server's
tools costs one query, not hundreds.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

GROUPS_TTL = 2.0


class ServerAccess:
    def __init__(self, group_ids: frozenset[int] = frozenset()) -> None:
        self.group_ids = group_ids

    def __call__(self, user: Any) -> bool:
        allowed = self.group_ids
        if not allowed:
            return True
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        ids = _cached(user)
        if ids is None:
            ids = _remember(user, user.groups.values_list("pk", flat=True))
        return not allowed.isdisjoint(ids)

    async def acall(self, user: Any) -> bool:
        allowed = self.group_ids
        if not allowed:
            return True
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        ids = _cached(user)
        if ids is None:
            ids = _remember(user, [pk async for pk in user.groups.values_list("pk", flat=True)])
        return not allowed.isdisjoint(ids)


def _cached(user: Any) -> frozenset[int] | None:
    memo = getattr(user, "_toolgate_group_ids", None)
    if memo is not None and time.monotonic() - memo[0] < GROUPS_TTL:
        return memo[1]
    return None


def _remember(user: Any, ids: Any) -> frozenset[int]:
    frozen = frozenset(ids)
    with contextlib.suppress(AttributeError):
        user._toolgate_group_ids = (time.monotonic(), frozen)
    return frozen
