"""One model turn may take several attempts, on several profiles: what each one holds.

A :class:`Candidate` is a profile the turn may be answered by (the run's own, then its
fallbacks), connected to its provider only when it is needed. An :class:`Attempt` collects
one streamed request; when the stream breaks, :meth:`Attempt.spent` says what it cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.providers.base import ChatRequest, Finished, Provider, ProviderError, ToolCallFinished, Usage
from assistant.providers.retry import estimate_input_tokens, estimate_tokens


@dataclass
class Candidate:
    name: str
    label: str
    retries: int
    context_tokens: int = 100_000
    provider: Provider | None = None
    model: str = ""

    def connect(self, factory: Callable[[str], tuple[Provider, str]]) -> None:
        """Build (or reuse) the provider; raises ProviderError, e.g. without an API key."""
        if self.provider is None:
            self.provider, self.model = factory(self.name)


@dataclass
class Attempt:
    text: list[str] = field(default_factory=list)
    calls: dict[int, ToolCallFinished] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finished: Finished = field(default_factory=lambda: Finished("stop"))
    events: int = 0  # events received: any means the provider read the prompt
    # ProviderState events by adapter (e.g. Responses reasoning items): kept with the turn.
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def spent(self, error: ProviderError, request: ChatRequest) -> Usage:
        """The tokens a broken attempt cost: what the provider reported (Anthropic says the
        input at the start), else an estimate once it had begun to answer (OpenAI reports
        usage only at the end); nothing for a request refused before any answer."""
        if error.usage is not None and (error.usage.input_tokens or error.usage.output_tokens):
            return error.usage
        if self.usage.input_tokens or self.usage.output_tokens:
            return self.usage
        if not self.events:
            return Usage()
        return Usage(estimate_input_tokens(request), max(1, estimate_tokens("".join(self.text))))
