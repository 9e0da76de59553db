"""OpenAI Responses API (``client.responses.create(stream=True)``), normalised like the others.

Stateless by default: every turn sends the whole history from Toolgate's own records with
``store=false``, so nothing of the conversation is kept at OpenAI and a conversation can
move between profiles. Reasoning models keep their chain of thought across turns through
their *reasoning items*: we ask for them encrypted (``include=["reasoning.encrypted_content"]``),
hand them to the run loop as a :class:`ProviderState` (stored with the assistant message)
and replay them, in place, on every later request. ``previous_response_id`` chaining
(``store=true``, only the new items sent) is an option of the profile.

The stream is typed events rather than deltas of one message: output items (reasoning,
message, function_call) are added, filled and done; function-call arguments arrive as
``response.function_call_arguments.delta`` keyed by item id; ``response.completed`` /
``.incomplete`` / ``.failed`` end the response and carry the usage. A stream without one
of those was cut off.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from assistant.providers import errors
from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Event,
    Finished,
    FinishReason,
    OutputFormat,
    ProviderState,
    SDKProvider,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from assistant.providers.openai_errors import provider_error
from tools.exports import to_responses

STATE_KEY = "openai_responses"  # where this adapter's state lives in Message.provider_state
_INCOMPLETE: dict[str, FinishReason] = {"max_output_tokens": "length", "content_filter": "content_filter"}


@dataclass
class _Call:
    index: int  # position among this response's function calls
    item_id: str
    call_id: str
    name: str
    parts: list[str] = field(default_factory=list)
    done: bool = False


class OpenAIResponsesProvider(SDKProvider):
    """``Provider`` for the Responses API. ``chain`` sends ``previous_response_id`` (and
    ``store=true``) instead of the whole history."""

    client: AsyncOpenAI

    def __init__(self, *, client: AsyncOpenAI, model: str = "", name: str = "openai_responses",
                 label: str = "OpenAI", key_env: str | None = "OPENAI_API_KEY", chain: bool = False) -> None:
        super().__init__(client=client, model=model, name=name, label=label, key_env=key_env)
        self.chain = chain

    # --- request ----------------------------------------------------------------------------

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        messages = request.messages
        body: dict[str, Any] = {"model": request.model or self.model}
        if self.chain:
            previous, messages = _after_last_response(messages)
            if previous:
                body["previous_response_id"] = previous
        body["input"] = input_items(messages)
        body["max_output_tokens"] = request.max_tokens
        body["store"] = self.chain
        body["include"] = ["reasoning.encrypted_content"]
        if request.system:
            body["instructions"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [to_responses(tool, strict=request.strict) for tool in request.tools]
            body["tool_choice"] = _tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.output is not None:
            body["text"] = {"format": text_format(request.output)}
        return body

    # --- response -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        try:
            stream = await self.client.responses.create(**self.payload(request), stream=True)
        except openai.APIError as exc:
            raise provider_error(self, exc, midstream=False) from exc
        calls: dict[str, _Call] = {}  # by output item id
        reasoning: list[dict[str, Any]] = []
        response_id: str | None = None
        final: Any = None  # the response object of the event that ended the stream
        refused = False
        try:
            async for event in stream:
                kind = getattr(event, "type", None)
                if kind == "response.created":
                    response_id = event.response.id
                elif kind == "response.output_text.delta":
                    if event.delta:
                        yield TextDelta(event.delta)
                elif kind == "response.refusal.delta":
                    refused = True
                    if event.delta:
                        yield TextDelta(event.delta)
                elif kind == "response.output_item.added" and event.item.type == "function_call":
                    item = event.item
                    # A server that leaves out call_id (or the item id) still gets stable keys.
                    call_id = item.call_id or item.id or f"call_{response_id or 'resp'}_{len(calls)}"
                    call = _Call(len(calls), item.id or call_id, call_id, item.name or "")
                    calls[call.item_id] = call
                    yield ToolCallStarted(call.index, call.call_id, call.name)
                    if item.arguments:
                        call.parts.append(item.arguments)
                        yield ToolCallDelta(call.index, call.call_id, item.arguments)
                elif kind == "response.function_call_arguments.delta":
                    call = calls.get(event.item_id)
                    if call is not None and event.delta:
                        call.parts.append(event.delta)
                        yield ToolCallDelta(call.index, call.call_id, event.delta)
                elif kind == "response.function_call_arguments.done":
                    call = calls.get(event.item_id)
                    if call is not None and not call.done:
                        call.done = True
                        call.parts = [event.arguments if event.arguments is not None else "".join(call.parts)]
                        yield ToolCallFinished(call.index, call.call_id, call.name, call.parts[0])
                elif kind == "response.output_item.done" and event.item.type == "reasoning":
                    # The done item carries the complete encrypted content; the added one may not.
                    reasoning.append(event.item.model_dump(mode="json", exclude_none=True))
                elif kind in ("response.completed", "response.incomplete", "response.failed"):
                    final = event.response
                    response_id = final.id or response_id
                    break
                elif kind == "error":
                    detail = errors.scrub(getattr(event, "message", "") or "", [self.client.api_key])
                    raise errors.in_stream(provider=self.name, label=self.label, detail=detail)
        except openai.APIError as exc:
            raise provider_error(self, exc, midstream=True) from exc
        except json.JSONDecodeError as exc:
            raise errors.unreadable(provider=self.name, label=self.label) from exc
        finally:
            await stream.close()
        if final is None:
            raise errors.interrupted(provider=self.name, label=self.label)
        if final.status == "failed":
            error = getattr(final, "error", None)
            detail = errors.scrub(getattr(error, "message", "") or "", [self.client.api_key])
            raise errors.in_stream(provider=self.name, label=self.label, detail=detail)
        for call in sorted(calls.values(), key=lambda c: c.index):  # never got arguments.done
            if not call.done:
                yield ToolCallFinished(call.index, call.call_id, call.name, "".join(call.parts))
        if final.usage is not None:
            yield Usage(final.usage.input_tokens or 0, final.usage.output_tokens or 0)
        if reasoning or self.chain:
            yield ProviderState(STATE_KEY, {"response_id": response_id, "reasoning": reasoning})
        yield _finished(final, bool(calls), refused, response_id)


# --- the history as Responses input items ---------------------------------------------------


def input_items(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The neutral history as ``input`` items: an assistant turn replays its reasoning items
    first, then its text and its ``function_call`` items; each result is a
    ``function_call_output`` placed right after the calls it answers."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.content})
        elif message.role == "assistant":
            out += _state(message).get("reasoning") or []
            if message.content:
                out.append({"role": "assistant", "content": message.content})
            out += [{"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in message.tool_calls]
        else:
            for result in message.tool_results:
                item = {"type": "function_call_output", "call_id": result.call_id, "output": result.content}
                out.insert(_slot(out, result.call_id), item)
    return out


def _state(message: ChatMessage) -> dict[str, Any]:
    state = (message.provider_state or {}).get(STATE_KEY)
    return state if isinstance(state, dict) else {}


def _slot(out: list[dict[str, Any]], call_id: str) -> int:
    """After the call ``call_id`` and the outputs already following it (else at the end)."""
    for position in range(len(out) - 1, -1, -1):
        item = out[position]
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            position += 1
            while position < len(out) and out[position].get("type") in ("function_call",
                                                                           "function_call_output"):
                position += 1
            return position
    return len(out)


def _after_last_response(messages: list[ChatMessage]) -> tuple[str | None, list[ChatMessage]]:
    """With ``previous_response_id``: the last stored response's id, and what came after it."""
    for position in range(len(messages) - 1, -1, -1):
        response_id = _state(messages[position]).get("response_id")
        if messages[position].role == "assistant" and response_id:
            return response_id, messages[position + 1:]
    return None, messages


def text_format(output: OutputFormat) -> dict[str, Any]:
    """``text.format`` for a structured-output request."""
    if output.mode == "json_object":
        return {"type": "json_object"}
    return {"type": "json_schema", "name": output.name, "schema": output.schema, "strict": output.strict}


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "name": choice}


def _finished(final: Any, saw_calls: bool, refused: bool, response_id: str | None) -> Finished:
    if final.status == "incomplete":
        raw = getattr(getattr(final, "incomplete_details", None), "reason", None) or "incomplete"
        return Finished(_INCOMPLETE.get(raw, "other"), raw, response_id)
    if refused and not saw_calls:
        return Finished("content_filter", "refusal", response_id)
    return Finished("tool_calls" if saw_calls else "stop", final.status, response_id)
