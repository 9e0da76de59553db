"""A server's tool list → Toolgate tools: names, schemas and a risk from untrusted hints.

Each listed tool becomes ``SERVER__tool`` through the raw-definition path
(:meth:`~tools.Tool.from_definition`), so its schema is checked like any other raw
definition. One bad tool (an invalid name, a name that collides, a malformed schema) is
refused with a reason and never stops the server's other tools from loading.

Annotations come from the server and are only hints: ``readOnlyHint: true`` → low,
``destructiveHint: true`` or no annotations at all → high (needs approval), anything
else → medium. An administrator's ``default_risk`` on the server, and a ToolPolicy or
rule on the tool, always win over them. ``readOnlyHint`` or ``idempotentHint`` also make the
tool idempotent: a call cut off by a crashed process is run once more (docs/engine.md).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tools.definition import NAME_RE, Risk, Tool
from tools.errors import ToolDefinitionError
from tools.mcp.spec import ServerSpec

SEPARATOR = "__"
MAX_DESCRIPTION = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

CallFn = Callable[..., Awaitable[Any]]


def risk_from_annotations(annotations: Any) -> Risk:
    """The default risk of an MCP tool from its (untrusted) annotations."""
    if annotations is None:
        return Risk.HIGH
    hints = annotations if isinstance(annotations, dict) else annotations.model_dump(by_alias=True)
    if hints.get("destructiveHint") is True:
        return Risk.HIGH
    if hints.get("readOnlyHint") is True:
        return Risk.LOW
    if not any(hints.get(key) is not None for key in
               ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")):
        return Risk.HIGH  # an annotations object that says nothing is no annotations
    return Risk.MEDIUM


def idempotent_from_annotations(annotations: Any) -> bool:
    """Whether a call cut off by a crash may be run again: the server says the tool only
    reads (``readOnlyHint``) or that repeating it has no further effect (``idempotentHint``).
    Hints are the server's word about its own tool; without them, never."""
    if annotations is None:
        return False
    hints = annotations if isinstance(annotations, dict) else annotations.model_dump(by_alias=True)
    if hints.get("destructiveHint") is True and hints.get("idempotentHint") is not True:
        return False
    return hints.get("readOnlyHint") is True or hints.get("idempotentHint") is True


def registered_name(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


def split_name(name: str) -> tuple[str, str] | None:
    """(server, tool) for a registered MCP tool name, else ``None``."""
    server, sep, tool = name.partition(SEPARATOR)
    return (server, tool) if sep and server and tool else None


@dataclass(frozen=True)
class Entry:
    """One listed tool and what became of it: a Tool, or the reason it was refused."""

    remote_name: str
    name: str
    tool: Tool | None = None
    refused: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"tool": self.remote_name, "name": self.name}
        if self.tool is not None:
            body["risk"] = str(self.tool.risk)
        else:
            body["refused"] = self.refused
        return body


class McpTool(Tool):
    """A tool served by an MCP server (a Tool with its origin attached)."""

    server: str = ""
    remote_name: str = ""

    def __repr__(self) -> str:
        return f"<McpTool {self.name} risk={self.risk}>"


def build(spec: ServerSpec, listed: Iterable[Any], call: Callable[[str], CallFn],
          access: Any = None, taken: Callable[[str], bool] = lambda name: False,
          previous: dict[str, tuple[Any, Tool]] | None = None) -> list[Entry]:
    """An :class:`Entry` for every listed tool, in the order listed. ``call(remote_name)``
    gives the coroutine function that runs it; ``taken(name)`` says whether another source
    already holds a name. ``previous`` maps a remote name to the listed item and the Tool
    built from it last time, under the same ``spec``: a tool listed again exactly as before
    is reused, not rebuilt (a ``list_changed`` usually changes a few tools of many)."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in listed:
        remote = getattr(item, "name", None)
        remote = remote if isinstance(remote, str) else repr(remote)
        name = registered_name(spec.name, remote)
        if not NAME_RE.match(name):
            entries.append(Entry(remote, name, refused=(
                f"{name!r} is not a valid tool name for every provider: it must match "
                f"^[a-zA-Z0-9_-]{{1,64}}$ (the server's tool is called {_clip(remote)!r})")))
            continue
        if name in seen or taken(name):
            entries.append(Entry(remote, name, refused=(
                f"{name!r} is already taken (the server lists {remote!r} twice, or another tool "
                "has that name); this one was not registered")))
            continue
        before = previous.get(remote) if previous else None
        try:
            tool = before[1] if before is not None and before[0] == item else _tool(
                spec, item, name, call(remote), access)
        except ToolDefinitionError as exc:
            entries.append(Entry(remote, name, refused=_one_line(exc)))
            continue
        seen.add(name)
        entries.append(Entry(remote, name, tool=tool))
    return entries


def _tool(spec: ServerSpec, item: Any, name: str, fn: CallFn, access: Any) -> Tool:
    schema = getattr(item, "input_schema", None)
    if not isinstance(schema, dict):
        raise ToolDefinitionError(f"tool {name!r}: inputSchema must be a JSON object")
    description = _description(item, name)
    risk = Risk(spec.default_risk) if spec.default_risk else risk_from_annotations(item.annotations)
    definition = {"name": name, "description": description, "input_schema": schema}
    tool = McpTool.from_definition(definition, fn, risk=risk, timeout=spec.timeout,
                                   read_only=risk == Risk.LOW and not spec.default_risk, access=access,
                                   idempotent=idempotent_from_annotations(item.annotations))
    tool.server, tool.remote_name = spec.name, item.name
    return tool


def _description(item: Any, name: str) -> str:
    text = item.description or getattr(item, "title", None) or ""
    text = _CONTROL.sub("", str(text)).strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[:MAX_DESCRIPTION] + "…"
    return text or f"The {item.name} tool of an MCP server (it gave no description)."


def _one_line(exc: ToolDefinitionError) -> str:
    """A definition error without jsonschema's metaschema dump, with the place it names."""
    text = str(exc)
    head = text.split("\n\n", 1)[0]
    where = re.search(r"On schema((?:\[[^\]]*\])+)", text)
    if where:
        path = ".".join(part.strip("'\"") for part in re.findall(r"\[([^\]]*)\]", where[1]))
        head = f"{head} (at {path})"
    return _clip(head, 500)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
