"""One small interface to every LLM provider, with normalised streaming events.

The run loop speaks only these types. Each adapter translates them to and from its wire
format: a neutral history (:class:`ChatMessage`) goes in, a stream of :data:`Event` comes
out. Adapters never touch the database and never run tools.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from tools.definition import Tool

# --- the neutral history ----------------------------------------------------------------


@dataclass(frozen=True)
class ToolCallPart:
    """A tool call the assistant made. ``arguments`` is the JSON text exactly as received."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResultPart:
    """The result of one tool call, keyed by that call's id. ``content`` is JSON text."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ChatMessage:
    """``user`` (text), ``assistant`` (text and/or tool calls) or ``tool`` (tool results)."""

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCallPart, ...] = ()
    tool_results: tuple[ToolResultPart, ...] = ()
    # Assistant turns: what an adapter asked to keep with the turn (a ProviderState event),
    # by adapter name, e.g. the Responses API's reasoning items; replayed by that adapter only.
    provider_state: Mapping[str, Any] | None = field(default=None, hash=False)

    def converted(self, wire: str, convert: Callable[[ChatMessage], Any]) -> Any:
        """``convert(self)``, computed once per wire format and kept on this (immutable)
        message: a long conversation's history is converted once, not on every request.
        Callers must not mutate what it returns."""
        cache = self.__dict__.get("_wire")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_wire", cache)
        found = cache.get(wire)
        if found is None:
            found = cache[wire] = convert(self)
        return found


ToolChoice = Literal["auto", "none", "required"] | str  # any other string names one tool


@dataclass
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    system: str | None = None
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    strict: bool | None = None  # OpenAI strict schemas; None = per tool (strict when possible)
    output: OutputFormat | None = None  # structured output (assistant/extraction); None = free text


@dataclass(frozen=True)
class OutputFormat:
    """Ask for JSON instead of prose (OpenAI Chat ``response_format``, Responses ``text.format``).

    ``mode`` ``"json_schema"`` sends ``schema`` (``strict`` when it allows it);
    ``"json_object"`` only asks for a JSON object (the caller validates). Adapters without
    such a switch (Anthropic) ignore it: extraction uses a forced tool call there.
    """

    name: str
    schema: dict[str, Any]
    mode: Literal["json_schema", "json_object"] = "json_schema"
    strict: bool = False


# --- the normalised stream --------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    id: str
    arguments_delta: str


@dataclass(frozen=True)
class ToolCallFinished:
    index: int
    id: str
    name: str
    arguments: str  # the complete JSON text; an object sent by a quirky server is re-encoded


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "other"]


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    raw_reason: str | None = None
    message_id: str | None = None  # the provider's id for this response, when it has one


@dataclass(frozen=True)
class ProviderState:
    """Something the adapter needs back on later turns, stored with the assistant turn
    (``Message.provider_state[provider]``) and handed back as ``ChatMessage.provider_state``:
    the Responses API's reasoning items, say. Opaque to the run loop; before ``Finished``."""

    provider: str
    data: Mapping[str, Any] = field(hash=False)


Event = TextDelta | ToolCallStarted | ToolCallDelta | ToolCallFinished | Usage | ProviderState | Finished


# --- errors -----------------------------------------------------------------------------

ErrorKind = Literal[
    "rate_limited", "server_error", "timeout", "connection", "authentication", "bad_request",
    "stream_interrupted", "stream_unreadable", "other",
]


class ProviderError(Exception):
    """One failed model request; ``user_message`` is safe to show.

    ``retry_after``: seconds the provider asked us to wait (``Retry-After``), if it did.
    ``usage``: the tokens the provider reported before the stream broke, if any (they
    still count against the run and the user's budget). Whether it is retried is decided
    in one place, assistant/providers/retry.py.
    """

    def __init__(self, kind: ErrorKind, user_message: str, *, status: int | None = None,
                 provider: str = "", retry_after: float | None = None) -> None:
        super().__init__(user_message)
        self.kind = kind
        self.user_message = user_message
        self.status = status
        self.provider = provider
        self.retry_after = retry_after
        self.usage: Usage | None = None


class SDKProvider:
    """What the adapters built on a vendor SDK's async client share: the client, the
    profile's model, the names shown in errors, and closing the client's connection pool.

    ``label`` names the provider in user-facing error messages; ``key_env`` is the
    environment variable an error about a missing or refused key should name.
    """

    def __init__(self, *, client: Any, model: str, name: str, label: str, key_env: str | None) -> None:
        self.client = client
        self.model = model
        self.name = name
        self.label = label
        self.key_env = key_env

    async def aclose(self) -> None:
        """Close the SDK client's connection pool (not part of ``Provider``; optional)."""
        await self.client.close()


class Provider(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        """Stream one model turn. Raises :class:`ProviderError` on failure."""
        ...

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The exact request body this adapter sends for ``request`` (minus ``stream`` flags)."""
        ...
