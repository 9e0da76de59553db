"""What one user may use from a registry, worked out once per (user, catalog version).

With MCP servers a catalog holds hundreds of tools; asking the access policy about each of
them on every run would make a turn's cost grow with the catalog. A :class:`Catalog` is
cached under (user, registry, registry version, access policy, policy version) and for at
most :data:`CATALOG_TTL` seconds, which bounds how long a change nothing announces (a
permission granted in another process) can go unseen, as the policy snapshot itself does.
A policy announces its changes by a ``version()`` attribute (``approvals.policy.can_use``
has one); the registry by its ``version`` counter.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tools.gate import FROM_SETTINGS, aavailable_tools, available_tools, load_access_policy

if TYPE_CHECKING:
    from tools.definition import Tool
    from tools.registry import Registry
    from tools.selection import Index

CATALOG_TTL = 2.0
_MAX_ENTRIES = 1024


@dataclass
class Catalog:
    """The tools one user may use, in name order, and (built on first use) their index."""

    tools: tuple[Tool, ...]
    version: tuple[Any, ...]
    taken_at: float = field(default_factory=time.monotonic)
    _index: Index | None = field(default=None, repr=False)
    _by_name: dict[str, Tool] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.tools)

    def by_name(self) -> dict[str, Tool]:
        """The tools by name (built once per catalog, not per turn)."""
        if self._by_name is None:
            self._by_name = {t.name: t for t in self.tools}
        return self._by_name

    def index(self) -> Index:
        if self._index is None:
            from tools.selection import shared_index

            self._index = shared_index(self.tools, self.version[:3])
        return self._index


_cache: OrderedDict[tuple[Any, ...], Catalog] = OrderedDict()


def _key(user: Any, registry: Registry, policy: Any) -> tuple[Any, ...]:
    version = getattr(policy, "version", None)
    user_key = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    return (id(registry), registry.version, id(policy), version() if callable(version) else None, user_key)


def _cached(key: tuple[Any, ...]) -> Catalog | None:
    found = _cache.get(key)
    if found is None or time.monotonic() - found.taken_at > CATALOG_TTL:
        return None
    _cache.move_to_end(key)
    return found


def _store(key: tuple[Any, ...], tools: list[Tool]) -> Catalog:
    made = _cache[key] = Catalog(tuple(tools), key)
    while len(_cache) > _MAX_ENTRIES:
        _cache.popitem(last=False)
    return made


def catalog(user: Any, registry: Registry, policy: Any = FROM_SETTINGS) -> Catalog:
    if policy is FROM_SETTINGS:
        policy = load_access_policy()
    key = _key(user, registry, policy)
    return _cached(key) or _store(key, available_tools(user, registry, policy))


async def acatalog(user: Any, registry: Registry, policy: Any = FROM_SETTINGS) -> Catalog:
    """:func:`catalog` from async code. The registry's dynamic sources (MCP servers) are
    brought up to date first: a change there bumps the registry's version, hence the key."""
    aready = getattr(registry, "aready", None)
    if aready is not None:
        await aready()
    if policy is FROM_SETTINGS:
        policy = load_access_policy()
    key = _key(user, registry, policy)
    return _cached(key) or _store(key, await aavailable_tools(user, registry, policy))


def clear() -> None:
    _cache.clear()
