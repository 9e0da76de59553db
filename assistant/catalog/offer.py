"""The tools one model turn is offered, and the record of that offer.

Up to ``TOOLS_SELECTION_THRESHOLD`` usable tools, a turn is offered all of them. Above it,
sending every schema on every turn would be slow, costly and confusing for the model, so a
turn is offered the ``TOOLS_SELECTION_K`` tools that best match the conversation (BM25 over
names, descriptions and parameter names: the latest user message and the one before), the
tools ``search_tools`` found earlier in the conversation, and ``search_tools`` itself.
Only tools the user may use are ever candidates: the catalog is already filtered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from assistant.providers.base import ChatMessage
from tools.catalog import Catalog
from tools.definition import Tool
from tools.selection import SEARCH_TOOL, found_by_search

_CONTEXT_CHARS = 2000


@dataclass(frozen=True)
class Offer:
    tools: list[Tool]
    selected: bool
    available: int

    def record(self) -> dict[str, Any]:
        """What is stored on the assistant turn (Message.offered_tools)."""
        return {"selected": self.selected, "available": self.available, "names": [t.name for t in self.tools]}


def query_of(history: list[ChatMessage]) -> str:
    users = [m.content for m in history if m.role == "user" and m.content]
    return " ".join(reversed(users[-2:]))[:_CONTEXT_CHARS]


def offer(catalog: Catalog, history: list[ChatMessage]) -> Offer:
    by_name = catalog.by_name()  # once per catalog: a turn's cost does not grow with it
    search = by_name.get(SEARCH_TOOL)
    available = len(by_name) - (search is not None)
    if available <= settings.TOOLS_SELECTION_THRESHOLD:
        return Offer([t for t in catalog.tools if t is not search], selected=False, available=available)
    k = settings.TOOLS_SELECTION_K
    found = found_by_search(part.content for m in reversed(history) for part in m.tool_results
                            if part.name == SEARCH_TOOL and not part.is_error)
    chosen: dict[str, Tool] = {}
    for name in found[:k]:  # what the model asked for comes first
        if name in by_name and name != SEARCH_TOOL:
            chosen[name] = by_name[name]
    for tool in catalog.index().search(query_of(history), k, exclude={SEARCH_TOOL, *chosen}):
        chosen[tool.name] = tool
    tools = list(chosen.values()) + ([search] if search is not None else [])
    return Offer(tools, selected=True, available=available)
