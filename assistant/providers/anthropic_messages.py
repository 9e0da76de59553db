"""Anthropic Messages API through ``AsyncAnthropic``, with raw stream events normalised.

The Messages API shapes a conversation differently from the neutral history: the system
prompt sits outside the messages, an assistant turn is a list of content blocks (text,
then ``tool_use`` blocks whose ``input`` is an object), and tool results go back as
``tool_result`` blocks at the start of the next *user* turn, with consecutive user content
merged into one turn. Streaming numbers content blocks across text and tool use, so a
tool call's index here is its position among tool calls, not its block index.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic

from assistant.providers import errors
from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Event,
    Finished,
    FinishReason,
    ProviderError,
    SDKProvider,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from tools.exports import to_anthropic

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
    "model_context_window_exceeded": "length", "refusal": "content_filter",
}


@dataclass
class _ToolBlock:
    index: int  # position among this turn's tool calls
    id: str
    name: str
    parts: list[str] = field(default_factory=list)
    initial: Any = None  # ``input`` given in content_block_start (normally empty)

    def arguments(self) -> str:
        if self.parts:
            return "".join(self.parts)
        return json.dumps(self.initial if isinstance(self.initial, dict) else {})


class AnthropicProvider(SDKProvider):
    """``Provider`` for the Anthropic Messages API."""

    client: AsyncAnthropic

    def __init__(self, *, client: AsyncAnthropic, model: str = "", name: str = "anthropic",
                 label: str = "Anthropic", key_env: str | None = "ANTHROPIC_API_KEY") -> None:
        super().__init__(client=client, model=model, name=name, label=label, key_env=key_env)

    # --- request ----------------------------------------------------------------------------

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "messages": self.messages(request),
        }
        if request.system:
            body["system"] = request.system
        # No ``temperature``: the Messages API (SDK 2.x) no longer takes sampling parameters.
        if request.tools:
            body["tools"] = [to_anthropic(tool) for tool in request.tools]
            body["tool_choice"] = _tool_choice(request.tool_choice, request.parallel_tool_calls)
        return body

    def messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            role, shared = message.converted("anthropic_messages", _blocks)
            blocks = list(shared)  # the turns below are built by extending and sorting
            if not blocks:
                continue  # the API rejects empty turns
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        for turn in turns:
            if turn["role"] == "user":  # tool_result blocks must open the user turn
                turn["content"].sort(key=lambda b: b["type"] != "tool_result")
            if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
                turn["content"] = turn["content"][0]["text"]
        return turns

    # --- response -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        try:
            stream = await self.client.messages.create(**self.payload(request), stream=True)
        except anthropic.APIError as exc:
            raise self._error(exc, midstream=False) from exc
        tools: dict[int, _ToolBlock] = {}  # by content block index
        calls_seen = 0
        stop_reason: str | None = None
        message_id: str | None = None
        input_tokens = output_tokens = 0
        stopped = False
        try:
            async for event in stream:
                kind = event.type
                if kind == "message_start":
                    message_id = event.message.id
                    input_tokens = _input_tokens(event.message.usage) or input_tokens
                    output_tokens = event.message.usage.output_tokens or output_tokens
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        tool = _ToolBlock(calls_seen, block.id, block.name, initial=block.input)
                        tools[event.index] = tool
                        calls_seen += 1
                        yield ToolCallStarted(tool.index, tool.id, tool.name)
                    elif block.type == "text" and block.text:
                        yield TextDelta(block.text)
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta" and delta.text:
                        yield TextDelta(delta.text)
                    elif delta.type == "input_json_delta" and event.index in tools:
                        tool = tools[event.index]
                        if delta.partial_json:
                            tool.parts.append(delta.partial_json)
                            yield ToolCallDelta(tool.index, tool.id, delta.partial_json)
                    # thinking, signature and citations deltas are not answer text
                elif kind == "content_block_stop" and event.index in tools:
                    tool = tools.pop(event.index)
                    yield ToolCallFinished(tool.index, tool.id, tool.name, tool.arguments())
                elif kind == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    usage = event.usage
                    output_tokens = usage.output_tokens or output_tokens
                    input_tokens = _input_tokens(usage) or input_tokens
                elif kind == "message_stop":
                    stopped = True
        except anthropic.APIError as exc:
            raise _with_usage(self._error(exc, midstream=True), input_tokens, output_tokens) from exc
        except httpx2.TimeoutException as exc:  # the Anthropic SDK does not wrap stream reads
            raise _with_usage(errors.timeout(provider=self.name, label=self.label, midstream=True,
                                             seconds=errors.seconds(self.client.timeout)),
                              input_tokens, output_tokens) from exc
        except httpx2.TransportError as exc:
            raise _with_usage(errors.interrupted(provider=self.name, label=self.label),
                              input_tokens, output_tokens) from exc
        except json.JSONDecodeError as exc:
            raise _with_usage(errors.unreadable(provider=self.name, label=self.label),
                              input_tokens, output_tokens) from exc
        finally:
            await stream.close()
        if not stopped:
            raise _with_usage(errors.interrupted(provider=self.name, label=self.label),
                              input_tokens, output_tokens)
        for tool in sorted(tools.values(), key=lambda t: t.index):  # blocks never stopped
            yield ToolCallFinished(tool.index, tool.id, tool.name, tool.arguments())
        yield Usage(input_tokens, output_tokens)
        reason = _STOP.get(stop_reason or "", "other")
        if calls_seen and reason in ("stop", "other"):
            reason = "tool_calls"
        yield Finished(reason, stop_reason, message_id)

    def _error(self, exc: anthropic.APIError, *, midstream: bool) -> ProviderError:
        secret = self.client.api_key
        if isinstance(exc, anthropic.APITimeoutError):
            return errors.timeout(provider=self.name, label=self.label, midstream=midstream,
                                  seconds=errors.seconds(self.client.timeout))
        if isinstance(exc, anthropic.APIConnectionError):
            if midstream:
                return errors.interrupted(provider=self.name, label=self.label)
            return errors.connection(provider=self.name, label=self.label,
                                     host=errors.host_of(self.client.base_url))
        detail = errors.scrub(errors.provider_detail(exc.body) or "", [secret])
        if isinstance(exc, anthropic.APIStatusError) and not (midstream and exc.status_code < 400):
            return errors.for_status(
                exc.status_code, provider=self.name, label=self.label, key_env=self.key_env,
                detail=detail, attempts=errors.attempts(exc.response.request.headers),
                headers=exc.response.headers,
            )
        # An ``event: error`` inside a 200 stream, e.g. overloaded_error.
        return errors.in_stream(provider=self.name, label=self.label, detail=detail or exc.message)


def _with_usage(error: ProviderError, input_tokens: int, output_tokens: int) -> ProviderError:
    """The tokens ``message_start`` reported before the stream broke: they are still billed."""
    if input_tokens or output_tokens:
        error.usage = Usage(input_tokens, output_tokens)
    return error


def _blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "user":
        return "user", [{"type": "text", "text": message.content}] if message.content else []
    if message.role == "assistant":
        blocks: list[dict[str, Any]] = []
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)}
                   for c in message.tool_calls]
        return "assistant", blocks
    results: list[dict[str, Any]] = []
    for r in message.tool_results:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.call_id, "content": r.content}
        if r.is_error:
            block["is_error"] = True
        results.append(block)
    return "user", results


def _input(arguments: str) -> dict[str, Any]:
    """``tool_use.input`` must be an object; malformed arguments (already answered with a
    validation error in the tool result) are replayed as an empty one."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_choice(choice: str, parallel: bool | None) -> dict[str, Any]:
    if choice == "auto":
        body: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        body = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}  # takes no disable_parallel_tool_use
    else:
        body = {"type": "tool", "name": choice}
    if parallel is False:
        body["disable_parallel_tool_use"] = True
    return body


def _input_tokens(usage: Any) -> int:
    """Prompt tokens including cached ones (the API reports the three separately)."""
    return sum(getattr(usage, name, None) or 0 for name in
               ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))

