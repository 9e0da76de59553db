"""OpenAI Chat Completions, and every server that imitates it (Ollama, vLLM, llama.cpp, LM Studio).

We iterate the SDK's raw ``stream=True`` chunks instead of its accumulating helpers so the
normalisation is ours and visible: tool-call deltas are merged by ``index`` (id and name
arrive once, arguments in fragments), and the imitators' quirks are smoothed over here —
missing call ids get a stable synthetic id, arguments sent as a JSON object are encoded,
``reasoning_content`` is never shown as answer text, and tool calls that end with
``finish_reason="stop"`` still finish as ``tool_calls``. A stream that ends without a
finish reason was cut off, and says so.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

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
    SDKProvider,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from assistant.providers.openai_errors import provider_error
from tools.exports import to_openai

_FINISH: dict[str, FinishReason] = {
    "stop": "stop", "tool_calls": "tool_calls", "function_call": "tool_calls",
    "length": "length", "content_filter": "content_filter",
}


@dataclass
class _OpenCall:
    index: int
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    started: bool = False


class OpenAIChatProvider(SDKProvider):
    """``Provider`` for the Chat Completions API through ``AsyncOpenAI``.

    ``max_tokens_param`` is ``"max_completion_tokens"`` for OpenAI (newer models reject
    ``max_tokens``) and ``"max_tokens"`` for compatible servers, most of which only know
    that one.
    """

    client: AsyncOpenAI

    def __init__(self, *, client: AsyncOpenAI, model: str = "", name: str = "openai",
                 label: str = "OpenAI", key_env: str | None = "OPENAI_API_KEY",
                 max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
                 ) -> None:
        super().__init__(client=client, model=model, name=name, label=label, key_env=key_env)
        self.max_tokens_param = max_tokens_param

    # --- request ----------------------------------------------------------------------------

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": self.messages(request),
            self.max_tokens_param: request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [to_openai(tool, strict=request.strict) for tool in request.tools]
            body["tool_choice"] = _tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.output is not None:
            body["response_format"] = response_format(request.output)
        return body

    def messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        """The history as Chat messages. Tool results are moved up to follow the assistant
        message that made the calls (the API rejects anything in between), e.g. when the
        user wrote while a call awaited approval."""
        out: list[dict[str, Any]] = []
        if request.system:
            out.append({"role": "system", "content": request.system})
        for message in request.messages:
            for item in message.converted("openai_chat", _message):
                if item["role"] == "tool":
                    out.insert(_slot(out, item), item)
                else:
                    out.append(item)
        return out

    # --- response -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        try:
            stream = await self.client.chat.completions.create(
                **self.payload(request), stream=True, stream_options={"include_usage": True},
            )
        except openai.APIError as exc:
            raise provider_error(self, exc, midstream=False) from exc
        calls: dict[int, _OpenCall] = {}
        raw_finish: str | None = None
        response_id: str | None = None
        usage: Usage | None = None
        refused = False
        try:
            async for chunk in stream:
                response_id = response_id or getattr(chunk, "id", None) or None
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    if choice.index not in (0, None):
                        continue
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            yield TextDelta(delta.content)
                        elif delta.refusal:
                            refused = True
                            yield TextDelta(delta.refusal)
                        for part in delta.tool_calls or ():
                            for event in self._tool_delta(calls, part, response_id):
                                yield event
                    if choice.finish_reason:
                        raw_finish = choice.finish_reason
        except openai.APIError as exc:
            raise provider_error(self, exc, midstream=True) from exc
        except json.JSONDecodeError as exc:
            raise errors.unreadable(provider=self.name, label=self.label) from exc
        finally:
            await stream.close()
        if raw_finish is None:
            raise errors.interrupted(provider=self.name, label=self.label)
        for index in sorted(calls):
            call = calls[index]
            if not call.started:  # arguments without a name: start it now, nameless
                call.id = call.id or _synthetic_id(response_id, index)
                yield ToolCallStarted(index, call.id, call.name)
            yield ToolCallFinished(index, call.id, call.name, "".join(call.parts))
        if usage is not None:
            yield usage
        if refused and not calls:  # the refusal field, not a filter: say so in the reason
            yield Finished("content_filter", "refusal", response_id)
            return
        yield Finished(_finish_reason(raw_finish, bool(calls)), raw_finish, response_id)

    def _tool_delta(self, calls: dict[int, _OpenCall], part: Any, response_id: str | None) -> list[Event]:
        """Merge one ``delta.tool_calls[i]`` into the open calls; return the events it makes."""
        function = part.function
        name = getattr(function, "name", None) if function is not None else None
        index = getattr(part, "index", None)
        if index is None:  # a few servers omit the index: a new id or a new name starts a call
            last = calls.get(max(calls, default=-1))
            new_id = part.id and all(c.id != part.id for c in calls.values())
            index = len(calls) if last is None or new_id or (name and last.name) else last.index
        call = calls.setdefault(index, _OpenCall(index))
        if part.id and not call.id:
            call.id = part.id
        if name and not call.name:
            call.name = name
        arguments = getattr(function, "arguments", None) if function is not None else None
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments)  # quirk: arguments sent as a JSON object
        events: list[Event] = []
        if not call.started and call.name:
            call.id = call.id or _synthetic_id(response_id, index)
            call.started = True
            events.append(ToolCallStarted(index, call.id, call.name))
            if call.parts:  # fragments that arrived before the name
                events.append(ToolCallDelta(index, call.id, "".join(call.parts)))
        if arguments:
            call.parts.append(arguments)
            if call.started:
                events.append(ToolCallDelta(index, call.id, arguments))
        return events


def _message(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "user":
        return [{"role": "user", "content": message.content}]
    if message.role == "assistant":
        body: dict[str, Any] = {"role": "assistant",
                                "content": message.content or (None if message.tool_calls else "")}
        if message.tool_calls:
            body["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
        return [body]
    return [{"role": "tool", "tool_call_id": r.call_id, "content": r.content}
            for r in message.tool_results]


def _slot(out: list[dict[str, Any]], item: dict[str, Any]) -> int:
    """Where ``item`` goes: a tool result right after its call's message and earlier results."""
    if item["role"] != "tool":
        return len(out)
    for position in range(len(out) - 1, -1, -1):
        ids = {c["id"] for c in out[position].get("tool_calls") or ()}
        if item["tool_call_id"] in ids:
            position += 1
            while position < len(out) and out[position]["role"] == "tool":
                position += 1
            return position
    return len(out)


def response_format(output: OutputFormat) -> dict[str, Any]:
    """Chat Completions' ``response_format`` for a structured-output request."""
    if output.mode == "json_object":
        return {"type": "json_object"}
    body: dict[str, Any] = {"name": output.name, "schema": output.schema}
    if output.strict:
        body["strict"] = True
    return {"type": "json_schema", "json_schema": body}


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _finish_reason(raw: str, saw_calls: bool) -> FinishReason:
    reason = _FINISH.get(raw, "other")
    if saw_calls and reason in ("stop", "other"):
        return "tool_calls"  # quirk: Ollama and others finish tool calls with "stop"
    return reason


def _synthetic_id(response_id: str | None, index: int) -> str:
    """An id for a call the server sent without one: the same stream gives the same id.

    Derived from the response id and the call's index; a server that omits the response
    id too gets a random one, since a constant would repeat across the conversation.
    """
    seed = f"{response_id or uuid.uuid4()}:{index}"
    return f"call_{hashlib.sha256(seed.encode()).hexdigest()[:24]}"

