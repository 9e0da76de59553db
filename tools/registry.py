"""The tool registry, and discovery of tools in installed apps and installed packages.

Like the admin's ``autodiscover()``, :func:`autodiscover` imports a ``tool_definitions``
module from every installed app; those modules register their tools. Packages outside the
project contribute tools through the ``toolgate.tools`` entry-point group: an entry point
may name a :class:`Tool`, a list of them, or a callable that receives the registry.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from django.utils.module_loading import autodiscover_modules

from tools.definition import Tool
from tools.errors import ToolDefinitionError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "toolgate.tools"


class ToolSource(Protocol):
    """Tools that come and go while the process runs (MCP servers, see ``tools.mcp``)."""

    async def aready(self, registry: Registry) -> None:
        """Bring the source's tools in the registry up to date (cheap when they are)."""

    def why_missing(self, name: str) -> str | None:
        """Why ``name`` is not registered now, if this source would serve it."""

    async def anotes(self, user: Any) -> list[str]:
        """What this user should be told about tools of theirs that are unavailable now."""


class Registry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._sources: list[ToolSource] = []
        self._lock = threading.Lock()
        # The catalog version: bumped by every change, so what is derived from the catalog
        # (each user's available tools, the selection index) is worked out once per version.
        self.version = 0

    def bump(self) -> int:
        """Mark the catalog changed (``register``/``unregister``/``replace`` do it; a source of
        tools that changes them otherwise calls it too)."""
        self.version += 1
        return self.version

    def register(self, item: Tool | Callable[..., Any], **options: Any) -> Tool:
        """Register a :class:`Tool`, or a plain typed function (made into one with ``options``)."""
        if isinstance(item, Tool) and options:
            raise ToolDefinitionError(
                f"tool {item.name!r} is already a Tool; options {sorted(options)} can only be given "
                "with a plain function"
            )
        new = item if isinstance(item, Tool) else Tool.from_function(item, **options)
        existing = self._tools.get(new.name)
        if existing is not None and existing is not new:
            raise ToolDefinitionError(
                f"tool {new.name!r} is already registered (by {_origin(existing)}); "
                f"cannot register it again from {_origin(new)}"
            )
        if existing is None:
            with self._lock:
                self._tools = {**self._tools, new.name: new}  # copied: readers may be iterating
                self.bump()
        return new

    def tool(self, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Decorator: make a tool and register it (``@registry.tool(risk="high")``)."""
        if fn is not None:
            return self.register(fn, **options)
        return lambda f: self.register(f, **options)

    def register_definition(self, definition: dict[str, Any], fn: Callable[..., Any], **meta: Any) -> Tool:
        """Register from a raw OpenAI- or Anthropic-format definition plus a callable."""
        return self.register(Tool.from_definition(definition, fn, **meta))

    def unregister(self, name: str) -> None:
        with self._lock:
            if name in self._tools:
                self._tools = {k: v for k, v in self._tools.items() if k != name}
                self.bump()

    def replace(self, old: Iterable[str], new: Iterable[Tool]) -> list[tuple[Tool, str]]:
        """Swap a source's tools in one step: ``old`` names out, ``new`` tools in.

        Another thread iterating the registry keeps the dictionary it started with. A new
        tool whose name another tool already holds is not registered; it comes back with
        the reason.
        """
        refused: list[tuple[Tool, str]] = []
        with self._lock:
            gone = set(old)
            tools = {k: v for k, v in self._tools.items() if k not in gone}
            for item in new:
                holder = tools.get(item.name)
                if holder is not None and holder is not item:
                    refused.append((item, f"tool {item.name!r} is already registered (by {_origin(holder)})"))
                    continue
                tools[item.name] = item
            self._tools = tools
            self.bump()
        return refused

    # -- dynamic sources -----------------------------------------------------------------

    def add_source(self, source: ToolSource) -> None:
        if source not in self._sources:
            self._sources.append(source)

    def remove_source(self, source: ToolSource) -> None:
        if source in self._sources:
            self._sources.remove(source)

    async def aready(self) -> None:
        """Let every dynamic source bring its tools up to date (before listing or lookup)."""
        for source in list(self._sources):
            await source.aready(self)

    def why_missing(self, name: str) -> str | None:
        for source in list(self._sources):
            reason = source.why_missing(name)
            if reason:
                return reason
        return None

    async def anotes(self, user: Any) -> list[str]:
        notes: list[str] = []
        for source in list(self._sources):
            notes.extend(await source.anotes(user))
        return notes

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def check_fallbacks(self) -> None:
        for item in self._tools.values():
            if item.fallback and item.fallback not in self._tools:
                raise ToolDefinitionError(
                    f"tool {item.name!r}: fallback tool {item.fallback!r} is not registered"
                )

    def load_entry_points(self, entry_points: Iterable[Any] | None = None) -> None:
        """Register the tools named by ``toolgate.tools`` entry points (or the ones given).

        A broken entry point stops start-up with an error naming it: a tool that silently
        went missing would be worse.
        """
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in entry_points:
            try:
                target = entry_point.load()
            except Exception as exc:
                raise ToolDefinitionError(
                    f"entry point {entry_point.name!r} in {ENTRY_POINT_GROUP} failed to load: {exc}"
                ) from exc
            try:
                self._register_target(target, entry_point.name)
            except ToolDefinitionError as exc:
                if str(exc).startswith("entry point"):
                    raise
                raise ToolDefinitionError(f"entry point {entry_point.name!r}: {exc}") from exc

    def _register_target(self, target: Any, source: str) -> None:
        if isinstance(target, Tool):
            self.register(target)
        elif isinstance(target, (list, tuple)):
            for item in target:
                self._register_target(item, source)
        elif callable(target):
            try:
                target(self)
            except ToolDefinitionError:
                raise
            except Exception as exc:
                raise ToolDefinitionError(
                    f"entry point {source!r} in {ENTRY_POINT_GROUP} failed while registering its "
                    f"tools: {type(exc).__name__}: {exc}"
                ) from exc
        else:
            raise ToolDefinitionError(
                f"entry point {source!r} must name a Tool, a list of Tools or a callable taking "
                f"the registry; got {type(target).__name__}"
            )


def _origin(item: Tool) -> str:
    return f"{getattr(item.fn, '__module__', '?')}.{getattr(item.fn, '__qualname__', '?')}"


registry = Registry()


def autodiscover() -> None:
    autodiscover_modules("tool_definitions")
    registry.load_entry_points()
    registry.check_fallbacks()
