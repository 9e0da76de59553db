"""What the fake LLM server should answer, step by step, written so tests read as a script.

A :class:`Step` is one HTTP response, described once and rendered by the server in
whichever wire format the request used (OpenAI Chat Completions or Anthropic Messages)::

    server.script_openai(text("Hello world", chunks=5))
    server.script_openai(tool_calls(call("calculator", {"expression": "2+2"}, id="call_1")))
    server.script_anthropic(error(429), text("ok"))
    server.script(text("partial", chunks=4).cut(after=3))

Steps are immutable; the chaining methods (``cut``, ``delayed``, ``with_usage`` ...)
return modified copies, so one step can be reused as a template.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Api = Literal["openai", "anthropic", "responses"]  # responses = the OpenAI Responses API
# A stream fault (Step.fault) and where in the stream it strikes: before the first token,
# after the first text delta, or after the first fragment of a tool call's arguments.
FaultKind = Literal["cut", "drop", "garbage", "stall"]
FaultPoint = Literal["start", "text", "arguments"]


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the fake model makes.

    ``arguments`` is a dict (encoded as compact JSON) or a string sent verbatim, which is
    how malformed JSON is scripted. ``id=None`` gets a generated id unless the step's
    ``omit_ids`` quirk is on. The argument text is split into ``fragments`` deltas.
    """

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    fragments: int = 3

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))

    @property
    def arguments_object(self) -> Any:
        """The arguments as a JSON value (malformed text stays a string)."""
        if isinstance(self.arguments, dict):
            return self.arguments
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


@dataclass(frozen=True)
class Step:
    """One scripted response. The default is an empty, successful text answer."""

    api: Api | None = None  # set by script_openai / script_anthropic; None = either
    text: str = ""
    chunks: int = 1
    calls: tuple[ToolCallSpec, ...] = ()
    reasoning: str = ""  # reasoning_content deltas (OpenAI) / a thinking block (Anthropic)
    # / a reasoning item with encrypted content (Responses)
    refusal: str = ""  # OpenAI's refusal field (Chat) / a refusal content part (Responses)
    interleave: bool = False  # interleave parallel calls' argument fragments (OpenAI)
    # --- quirks of OpenAI-compatible servers --------------------------------------------
    omit_ids: bool = False  # tool-call deltas without an "id"
    omit_index: bool = False  # tool-call deltas without an "index"
    args_as_object: bool = False  # "arguments": {...} instead of a JSON string
    finish_reason: str | None = None  # raw finish_reason / stop_reason override
    # --- usage, ids, model ------------------------------------------------------------
    usage: tuple[int, int] | None = None  # (input, output); default derived from the step
    response_id: str | None = None
    model: str | None = None  # default: echo the request's model
    # --- failures and timing ------------------------------------------------------------
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    cut_after: int | None = None  # send this many SSE events, then stop
    cut_clean: bool = False  # end the body politely instead of dropping the connection
    stream_error_after: int | None = None  # send an SSE error event after this many events
    delay_first: float = 0.0  # seconds before the status line
    delay_between: float = 0.0  # seconds between SSE events
    fault_kind: FaultKind | None = None
    fault_point: FaultPoint = "start"
    stall_seconds: float = 0.0

    # --- chaining ---------------------------------------------------------------------

    def cut(self, after: int, *, clean: bool = False) -> Step:
        """Drop the connection after ``after`` SSE events (no terminator, no finish).

        With ``clean=True`` the HTTP body is ended properly, so only the missing
        finish/[DONE]/message_stop tells the client the answer is incomplete.
        """
        return replace(self, cut_after=after, cut_clean=clean)

    def fault(self, kind: FaultKind, at: FaultPoint = "start", *, stall: float = 30.0) -> Step:
        """Break this stream at a point of its content, in either wire format:

        - ``cut``: end the HTTP body politely there — no finish reason, ``[DONE]`` or
          ``message_stop`` (at ``start``: right after the headers);
        - ``drop``: drop the TCP connection there (at ``start``: before any response);
        - ``garbage``: send a chunk that is not JSON there, then drop the connection;
        - ``stall``: fall silent there for ``stall`` seconds, then go on normally.
        """
        return replace(self, fault_kind=kind, fault_point=at, stall_seconds=stall)

    def delayed(self, first: float = 0.0, between: float = 0.0) -> Step:
        return replace(self, delay_first=first, delay_between=between)

    def with_usage(self, input_tokens: int, output_tokens: int) -> Step:
        return replace(self, usage=(input_tokens, output_tokens))

    def finishing(self, reason: str) -> Step:
        """Send this raw finish reason (e.g. ``"stop"`` after tool calls, a quirk)."""
        return replace(self, finish_reason=reason)

    def failing_midstream(self, after: int, message: str = "Overloaded",
                          error_type: str = "overloaded_error") -> Step:
        """Send an in-band SSE error event after ``after`` events (HTTP status stays 200)."""
        return replace(self, stream_error_after=after, error_message=message, error_type=error_type)

    def for_api(self, api: Api | None) -> Step:
        return replace(self, api=api)

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    def text_chunks(self) -> list[str]:
        return split(self.text, self.chunks)

    def usage_for(self, request_body: Any) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        body = request_body if isinstance(request_body, dict) else {}
        prompt = json.dumps(body.get("messages", body.get("input", [])))
        output = len(self.text_chunks()) + sum(max(1, c.fragments) for c in self.calls)
        return max(1, len(prompt) // 4), max(1, output)


# --- builders -------------------------------------------------------------------------


def text(content: str, chunks: int = 1, **options: Any) -> Step:
    """A text answer streamed in ``chunks`` pieces that concatenate to ``content``."""
    return Step(text=content, chunks=chunks, **options)


def refusal(content: str, chunks: int = 1, **options: Any) -> Step:
    """The model refuses (OpenAI ``refusal`` deltas; a refusal part in the Responses API)."""
    return Step(refusal=content, chunks=chunks, **options)


def call(name: str, arguments: str | dict[str, Any] | None = None, *, id: str | None = None,
         fragments: int = 3) -> ToolCallSpec:
    """A tool call; a string ``arguments`` is sent verbatim (use it for malformed JSON)."""
    return ToolCallSpec(name, {} if arguments is None else arguments, id, fragments)


def tool_calls(*calls: ToolCallSpec, text: str = "", chunks: int = 1, **options: Any) -> Step:
    """One or several tool calls (parallel when several), optionally after some text."""
    if not calls:
        raise ValueError("tool_calls() needs at least one call(...)")
    return Step(text=text, chunks=chunks, calls=tuple(calls), **options)


def reply(content: str, *calls: ToolCallSpec, chunks: int = 1, **options: Any) -> Step:
    """Text followed by tool calls in the same turn."""
    return Step(text=content, chunks=chunks, calls=tuple(calls), **options)


_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request: the fake server was told to reject it."),
    401: ("authentication_error", "Incorrect API key provided."),
    403: ("permission_error", "Your API key does not have permission to use this model."),
    404: ("not_found_error", "The model does not exist."),
    429: ("rate_limit_error", "Rate limit reached for requests."),
    500: ("api_error", "The server had an error while processing your request."),
    503: ("overloaded_error", "The engine is currently overloaded, please try again later."),
    529: ("overloaded_error", "Overloaded"),
}


def error(status: int, message: str | None = None, *, error_type: str | None = None,
          retry_after_ms: int | None = 1, headers: dict[str, str] | None = None) -> Step:
    """An HTTP error with the provider's error JSON body.

    Retryable statuses (408, 409, 429, >= 500) carry ``retry-after-ms: 1`` and
    ``retry-after: 0`` so the SDKs retry at once; pass ``retry_after_ms=None`` to leave
    them out (the SDK then uses its own exponential backoff).
    """
    if status < 400:
        raise ValueError(f"error() needs an HTTP error status (>= 400), got {status}")
    default_type, default_message = _DEFAULT_ERRORS.get(status, ("api_error", f"HTTP {status}"))
    extra: dict[str, str] = {}
    if retry_after_ms is not None and (status in (408, 409, 429) or status >= 500):
        extra = {"retry-after-ms": str(retry_after_ms), "retry-after": "0"}
    extra.update(headers or {})
    return Step(status=status, error_message=message or default_message,
                error_type=error_type or default_type, headers=tuple(extra.items()))


def words(n: int, word: str = "token") -> str:
    """``n`` space-separated words, e.g. for default answers in load tests."""
    return " ".join(f"{word}{i}" for i in range(1, n + 1))


def split(content: str, n: int) -> list[str]:
    """``content`` in at most ``n`` non-empty pieces that concatenate back to it.

    Pieces follow word boundaries while there are enough words, like real tokens do.
    """
    if not content:
        return []
    n = max(1, n)
    tokens = re.findall(r"\s*\S+\s*?(?=\s|$)|\s+$", content) or [content]
    if "".join(tokens) != content:  # defensive: fall back to characters
        tokens = list(content)
    if n > len(tokens):
        tokens = list(content)
    n = min(n, len(tokens))
    size, extra = divmod(len(tokens), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(tokens[start:end]))
        start = end
    return pieces


def fragments(content: str, n: int) -> list[str]:
    """Argument text in ``n`` character fragments (at least one, possibly empty)."""
    if n <= 1 or len(content) <= 1:
        return [content]
    n = min(n, len(content))
    size, extra = divmod(len(content), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(content[start:end])
        start = end
    return out


__all__ = [
    "Api", "FaultKind", "FaultPoint", "Step", "ToolCallSpec", "call", "error", "fragments", "refusal",
    "reply", "split", "text", "tool_calls", "words",
]
