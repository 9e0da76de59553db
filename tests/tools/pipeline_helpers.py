"""Small helpers shared by the pipeline tests: a registry and a pipeline in one line."""

from __future__ import annotations

import threading
from typing import Any

from tools.definition import Tool
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


def pipeline(*tools: Tool, **options: Any) -> Pipeline:
    """A pipeline over exactly ``tools``; no gate unless one is given."""
    reg = Registry()
    for item in tools:
        reg.register(item)
    options.setdefault("gate", None)
    return Pipeline(reg, **options)


def req(name: str, arguments: Any = None, **kwargs: Any) -> ToolCallRequest:
    return ToolCallRequest(name, arguments, **kwargs)


class Counter:
    """Counts calls and the most calls ever in flight at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()  # sync tools count from worker threads

    def enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)

    def exit(self) -> None:
        with self._lock:
            self.running -= 1
