"""What a tool may know about the call it is serving."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# ``await progress(call_id, progress, total, message)``: how far a running call has got.
Progress = Callable[[str, float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class ToolContext:
    """Passed to a tool that declares a parameter annotated ``ToolContext``.

    The parameter never appears in the JSON schema: the model cannot forge who is calling.
    ``scope`` carries opaque ids from the caller (a run, a conversation) for logging; the
    tools app does not interpret it. ``progress``, when the caller has somewhere to show
    it (the chat's tool card), receives a long call's progress reports.
    """

    user: Any = None
    call_id: str = ""
    scope: dict[str, Any] = field(default_factory=dict)
    progress: Progress | None = None

    async def report(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Pass a progress report on to the caller, if it listens; never fails the call."""
        if self.progress is not None:
            try:
                await self.progress(self.call_id, progress, total, message)
            except Exception:  # a broken display must not break the tool
                logging.getLogger(__name__).warning("progress report for %s failed", self.call_id,
                                                    exc_info=True)

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)
