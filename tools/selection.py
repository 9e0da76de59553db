"""Which tools to offer a model when a user may use too many to send them all.

A lexical BM25 ranking (the maintained ``bm25s`` library) over each tool's name (split into
words), description and parameter names, built once per catalog and shared by every user
with the same tools; and ``search_tools``, a tool the model calls to find others (the
engine offers what it found on the following turns).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import bm25s
import numpy as np
from bm25s.tokenization import Tokenizer

from tools.context import ToolContext
from tools.definition import Tool

if TYPE_CHECKING:
    from tools.registry import Registry

SEARCH_TOOL = "search_tools"
_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[_\-.]+")
_MAX_INDEXES = 32


def document(tool: Tool) -> str:
    """The text a tool is found by: its name as words, its description, its parameters."""
    names = " ".join(_WORDS.split(tool.name))
    params = " ".join(" ".join(_WORDS.split(p)) for p in (tool.parameters.get("properties") or {}))
    return f"{names} {names} {tool.description} {params}"


class Index:
    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = tuple(tools)
        self._tokenizer = Tokenizer(stopwords="en")
        self._bm25 = bm25s.BM25()
        if self.tools:
            ids = self._tokenizer.tokenize([document(t) for t in self.tools], show_progress=False,
                                           return_as="ids")
            self._bm25.index(ids, show_progress=False)

    def search(self, query: str, k: int, *, exclude: Iterable[str] = ()) -> list[Tool]:
        """Up to ``k`` tools best matching ``query`` (none when no word of it is known)."""
        excluded = set(exclude)
        if not self.tools or k < 1:
            return []
        words = " ".join(_WORDS.split(query))  # "currency_convert" reads as two words, as names do
        ids = self._tokenizer.tokenize([words], update_vocab=False, show_progress=False, return_as="ids")
        if not ids or not ids[0]:
            return []
        scores = self._bm25.get_scores(ids[0])  # one sparse pass; retrieve() costs ~20x more
        wanted = min(len(self.tools), k + len(excluded))
        everything = wanted >= len(scores)
        top = np.arange(len(scores)) if everything else np.argpartition(-scores, wanted - 1)[:wanted]
        ranked = sorted(top.tolist(), key=lambda i: (-float(scores[i]), i))
        found = [self.tools[i] for i in ranked if float(scores[i]) > 0]
        return [t for t in found if t.name not in excluded][:k]


_indexes: OrderedDict[tuple[Any, ...], Index] = OrderedDict()


def shared_index(tools: tuple[Tool, ...], catalog_version: tuple[Any, ...]) -> Index:
    """One index per (registry, version) and set of tools, whoever asks."""
    key = (*catalog_version, tuple(t.name for t in tools))
    found = _indexes.get(key)
    if found is None:
        found = _indexes[key] = Index(tools)
        while len(_indexes) > _MAX_INDEXES:
            _indexes.popitem(last=False)
    return found


def search_tool(registry: Registry | None = None) -> Tool:
    """The ``search_tools`` tool, searching the tools the caller may use in ``registry``."""

    async def search_tools(query: str, ctx: ToolContext, limit: int = 8) -> dict[str, Any]:
        """Find more tools by what they do. Use it when none of the tools you have fits the
        task; the tools found can be called from your next step on.

        Args:
            query: What the tool should do, in a few words (e.g. "convert currency").
            limit: How many tools to return, at most 20.
        """
        from tools.catalog import acatalog
        from tools.registry import registry as default_registry

        found = (await acatalog(ctx.user, registry or default_registry)).index().search(
            query, max(1, min(limit, 20)), exclude={SEARCH_TOOL})
        return {"tools": [{"name": t.name, "description": t.description.split("\n")[0][:200]} for t in found],
                "note": "These tools can be called from your next step on." if found else
                        "No tool matches; try other words."}

    return Tool.from_function(search_tools, name=SEARCH_TOOL, risk="low", read_only=True)


def found_by_search(contents: Iterable[str]) -> list[str]:
    """Tool names in ``search_tools`` results (their JSON content), most recent first."""
    import json

    names: list[str] = []
    for content in contents:
        try:
            body = json.loads(content)
        except (TypeError, ValueError):
            continue
        for item in (body.get("tools") or []) if isinstance(body, dict) else []:
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


__all__ = ["SEARCH_TOOL", "Index", "document", "found_by_search", "search_tool", "shared_index"]
