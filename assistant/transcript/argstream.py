"""Tool-call arguments as they stream, for the browser: few frames, however long (issue 16).

The provider adapters hand over every fragment of a call's JSON arguments as it arrives
(``ToolCallStarted``, ``ToolCallDelta``, ``ToolCallFinished``). A person wants to watch the
arguments grow in the tool card, as chat UIs do; but a long argument (a whole email body,
a file to write) can come as thousands of fragments of a few bytes, and one socket frame
each would cost the channel layer and the browser far more than the text is worth. So
fragments are coalesced per call: the first one goes out at once (the card appears when
the model starts the call), then at most one frame per ``interval`` seconds or per
``max_chars`` characters, and whatever is left when the call is complete.

The frames are ``tool.call.delta`` events (docs/protocol.md). They are ephemeral: the
realtime layer does not log them, so a replay after a reconnect never repeats fragments;
the logged ``tool.call`` that follows carries the complete arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.providers.base import ToolCallDelta, ToolCallFinished, ToolCallStarted

INTERVAL_SECONDS = 0.05
MAX_CHARS = 4096


@dataclass
class _Call:
    id: str
    name: str
    index: int
    sent: int = 0  # characters already sent (the next frame's offset)
    pending: list[str] = field(default_factory=list)
    pending_chars: int = 0
    last_sent: float | None = None


class ArgumentStream:
    """One model turn's argument fragments in, ``tool.call.delta`` events out."""

    def __init__(self, *, interval: float = INTERVAL_SECONDS, max_chars: int = MAX_CHARS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.max_chars = max_chars
        self.clock = clock
        self._calls: dict[int, _Call] = {}

    def feed(self, event: ToolCallStarted | ToolCallDelta | ToolCallFinished) -> list[dict[str, Any]]:
        """The events to emit now for one provider event (often none)."""
        call = self._calls.get(event.index)
        if call is None:
            call = self._calls[event.index] = _Call(event.id, getattr(event, "name", ""), event.index)
            if isinstance(event, ToolCallStarted):
                return [self._frame(call)]  # the card appears as soon as the name is known
        if isinstance(event, ToolCallDelta) and event.arguments_delta:
            call.pending.append(event.arguments_delta)
            call.pending_chars += len(event.arguments_delta)
            now = self.clock()
            if (call.sent == 0 or call.pending_chars >= self.max_chars
                    or now - call.last_sent >= self.interval):
                return [self._frame(call)]
        elif isinstance(event, ToolCallFinished) and call.pending:
            return [self._frame(call)]
        return []

    def _frame(self, call: _Call) -> dict[str, Any]:
        text = "".join(call.pending)
        frame = {"type": "tool.call.delta",
                 "tool_call": {"id": call.id, "name": call.name, "index": call.index},
                 "offset": call.sent, "delta": text}
        call.sent += len(text)
        call.pending.clear()
        call.pending_chars = 0
        call.last_sent = self.clock()
        return frame
