"""Keep the history sent to the model within the profile's context budget.

The rule (docs/engine.md, *Context*): the history is cut into **turns**, each starting at a
user message and running to the next one — so a tool call, its result and the answer that
used it always share a turn. While the estimated size of the request is over the
profile's ``context_tokens``, the oldest turn is dropped whole; the current turn (the
latest user message and what followed it in this run) is always kept, even if it alone is
over (the provider then refuses it with a clear error). Nothing is deleted: the dropped
turns stay in the conversation and on the page; they are only not sent.

Sizes are estimated (about four characters a token) once per message and kept on it, so
fitting a long history costs a sum of integers, not a pass over its text.
"""

from __future__ import annotations

from assistant.providers.base import ChatMessage


def size(message: ChatMessage) -> int:
    return message.converted("tokens", _estimate)


def _estimate(message: ChatMessage) -> int:
    chars = len(message.content)
    chars += sum(len(c.name) + len(c.arguments) + 16 for c in message.tool_calls)
    chars += sum(len(r.content) + 16 for r in message.tool_results)
    return 4 + (chars + 3) // 4


def reserved_tokens(system: str, tools: list) -> int:
    """What every request carries besides the history: the system prompt and tool schemas."""
    return (len(system) + sum(len(tool.name) + len(tool.description) + 200 for tool in tools) + 3) // 4


def fit(history: list[ChatMessage], budget: int, *, reserved: int = 0) -> tuple[list[ChatMessage], int]:
    """``history`` without its oldest whole turns, so that it fits ``budget`` tokens (less
    ``reserved``: the system prompt and tool schemas); and how many messages were left out."""
    total = reserved + sum(size(m) for m in history)
    if total <= budget:
        return history, 0
    starts = [i for i, m in enumerate(history) if m.role == "user"]
    if not starts:
        return history, 0
    cut = 0
    for start in starts[1:]:  # never past the last user message: the current turn stays
        if total <= budget:
            break
        total -= sum(size(m) for m in history[cut:start])
        cut = start
    return history[cut:], cut
