"""Render a scripted :class:`~tests.fakes.scripts.Step` in each provider's wire format.

Kept apart from the HTTP server so the exact bytes are easy to read against the API
references: OpenAI Chat Completions chunks (``data: {...}`` ... ``data: [DONE]``),
Anthropic Messages events (``event: message_start`` ... ``event: message_stop``) and
OpenAI Responses events (``event: response.created`` ... ``event: response.completed``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.scripts import Step, ToolCallSpec, fragments, split


@dataclass(frozen=True)
class Context:
    """What a rendering needs to know about the request it answers."""

    seq: int  # the request number on this server, for unique ids
    model: str
    body: Any

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") if isinstance(self.body, dict) else None
        return bool(isinstance(options, dict) and options.get("include_usage"))


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else _dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def call_id(api: str, ctx: Context, index: int, spec: ToolCallSpec) -> str:
    if spec.id is not None:
        return spec.id
    return f"{'toolu' if api == 'anthropic' else 'call'}_fake_{ctx.seq}_{index}"


# --- OpenAI Chat Completions -----------------------------------------------------------


def _openai_finish(step: Step) -> str:
    if step.finish_reason is not None:
        return step.finish_reason
    return "tool_calls" if step.calls else "stop"


def openai_stream(step: Step, ctx: Context) -> list[bytes]:
    rid = step.response_id or f"chatcmpl-fake-{ctx.seq}"
    model = step.model or ctx.model
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({
            "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        })

    events = [chunk({"role": "assistant", "content": "" if step.text else None, "refusal": None})]
    events += [chunk({"content": None, "refusal": piece}) for piece in split(step.refusal, step.chunks)]
    events += [chunk({"content": None, "reasoning_content": piece})
               for piece in fragments(step.reasoning, 3) if piece]
    events += [chunk({"content": piece}) for piece in step.text_chunks()]
    events += [chunk({"tool_calls": [part]}) for part in _openai_call_parts(step, ctx)]
    events.append(chunk({}, _openai_finish(step)))
    if ctx.include_usage:
        prompt, completion = step.usage_for(ctx.body)
        events.append(sse({
            "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                     "total_tokens": prompt + completion},
        }))
    events.append(b"data: [DONE]\n\n")
    return events


def _openai_call_parts(step: Step, ctx: Context) -> list[dict[str, Any]]:
    """The ``tool_calls`` delta entries, call by call or interleaved across calls."""
    per_call: list[list[dict[str, Any]]] = []
    for index, spec in enumerate(step.calls):
        head: dict[str, Any] = {"index": index, "type": "function",
                                "function": {"name": spec.name, "arguments": ""}}
        if not step.omit_ids:
            head["id"] = call_id("openai", ctx, index, spec)
        if step.args_as_object:
            head["function"]["arguments"] = spec.arguments_object
            per_call.append([head])
            continue
        parts = [head]
        parts += [{"index": index, "function": {"arguments": frag}}
                  for frag in fragments(spec.arguments_text, spec.fragments) if frag]
        per_call.append(parts)
    if step.omit_index:
        for parts in per_call:
            for part in parts:
                del part["index"]
    if not step.interleave:
        return [part for parts in per_call for part in parts]
    out: list[dict[str, Any]] = []
    for row in range(max((len(p) for p in per_call), default=0)):
        out += [parts[row] for parts in per_call if row < len(parts)]
    return out


def openai_json(step: Step, ctx: Context) -> dict[str, Any]:
    prompt, completion = step.usage_for(ctx.body)
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None,
                               "refusal": step.refusal or None}
    if step.calls:
        message["tool_calls"] = [
            {"id": call_id("openai", ctx, i, spec), "type": "function",
             "function": {"name": spec.name, "arguments": spec.arguments_text}}
            for i, spec in enumerate(step.calls)
        ]
    return {
        "id": step.response_id or f"chatcmpl-fake-{ctx.seq}", "object": "chat.completion",
        "created": int(time.time()), "model": step.model or ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _openai_finish(step)}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    }


def openai_error(step: Step) -> dict[str, Any]:
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "model_not_found"}.get(step.status)
    kind = {429: "requests", 500: "server_error", 503: "server_error"}.get(
        step.status, "invalid_request_error")
    return {"error": {"message": step.error_message, "type": kind, "param": None, "code": code}}


def openai_stream_error(step: Step) -> bytes:
    return sse({"error": {"message": step.error_message, "type": step.error_type or "server_error",
                          "param": None, "code": None}})


# --- Anthropic Messages ----------------------------------------------------------------

_ANTHROPIC_FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def _anthropic_finish(step: Step) -> str:
    if step.finish_reason is not None:
        return _ANTHROPIC_FINISH.get(step.finish_reason, step.finish_reason)
    return "tool_use" if step.calls else "end_turn"


def anthropic_stream(step: Step, ctx: Context) -> list[bytes]:
    prompt, completion = step.usage_for(ctx.body)
    message = {
        "id": step.response_id or f"msg_fake_{ctx.seq}", "type": "message", "role": "assistant",
        "content": [], "model": step.model or ctx.model, "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": prompt, "output_tokens": 1},
    }
    events = [sse({"type": "message_start", "message": message}, "message_start")]
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
        out = [sse({"type": "content_block_start", "index": index, "content_block": start},
                   "content_block_start")]
        if index == 0:
            out.append(sse({"type": "ping"}, "ping"))
        out += [sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
                for d in deltas]
        out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        return out

    if step.reasoning:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in fragments(step.reasoning, 3)]
        deltas.append({"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
        events += block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if step.text:
        events += block({"type": "text", "text": ""},
                        [{"type": "text_delta", "text": p} for p in step.text_chunks()])
        index += 1
    for i, spec in enumerate(step.calls):
        start = {"type": "tool_use", "id": call_id("anthropic", ctx, i, spec), "name": spec.name,
                 "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": frag}
                  for frag in fragments(spec.arguments_text, spec.fragments)]
        events += block(start, deltas)
        index += 1
    events.append(sse({"type": "message_delta",
                       "delta": {"stop_reason": _anthropic_finish(step), "stop_sequence": None},
                       "usage": {"output_tokens": completion}}, "message_delta"))
    events.append(sse({"type": "message_stop"}, "message_stop"))
    return events


def anthropic_json(step: Step, ctx: Context) -> dict[str, Any]:
    prompt, completion = step.usage_for(ctx.body)
    content: list[dict[str, Any]] = []
    if step.text:
        content.append({"type": "text", "text": step.text})
    for i, spec in enumerate(step.calls):
        args = spec.arguments_object
        content.append({"type": "tool_use", "id": call_id("anthropic", ctx, i, spec),
                        "name": spec.name, "input": args if isinstance(args, dict) else {}})
    return {
        "id": step.response_id or f"msg_fake_{ctx.seq}", "type": "message", "role": "assistant",
        "content": content, "model": step.model or ctx.model,
        "stop_reason": _anthropic_finish(step), "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": completion},
    }


def anthropic_error(step: Step) -> dict[str, Any]:
    return {"type": "error", "error": {"type": step.error_type or "api_error",
                                       "message": step.error_message}}


def anthropic_stream_error(step: Step) -> bytes:
    return sse(anthropic_error(step), "error")


# --- OpenAI Responses --------------------------------------------------------------------


def encrypted(reasoning: str, ctx: Context) -> str:
    """The fake's "encrypted" reasoning: recognisable, so tests can see it replayed."""
    return f"enc_{ctx.seq}:" + reasoning.encode().hex()


def _responses_output(step: Step, ctx: Context) -> list[dict[str, Any]]:
    """The completed output items: reasoning, a message, function calls."""
    items: list[dict[str, Any]] = []
    if step.reasoning:
        items.append({"id": f"rs_fake_{ctx.seq}", "type": "reasoning", "status": "completed",
                      "summary": [{"type": "summary_text", "text": step.reasoning}],
                      "encrypted_content": encrypted(step.reasoning, ctx)})
    if step.text or step.refusal:
        part = ({"type": "refusal", "refusal": step.refusal} if step.refusal else
                {"type": "output_text", "text": step.text, "annotations": [], "logprobs": []})
        items.append({"id": f"msg_fake_{ctx.seq}", "type": "message", "role": "assistant",
                      "status": "completed", "content": [part]})
    for i, spec in enumerate(step.calls):
        items.append({"id": f"fc_fake_{ctx.seq}_{i}", "type": "function_call", "status": "completed",
                      "call_id": call_id("openai", ctx, i, spec), "name": spec.name,
                      "arguments": spec.arguments_text})
    return items


def _response(step: Step, ctx: Context, status: str, output: list[dict[str, Any]],
              usage: bool) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    response: dict[str, Any] = {
        "id": step.response_id or f"resp_fake_{ctx.seq}", "object": "response",
        "created_at": int(time.time()), "status": status, "model": step.model or ctx.model,
        "output": output, "parallel_tool_calls": True, "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []), "error": None, "incomplete_details": None,
        "store": body.get("store", True), "usage": None,
    }
    if status == "incomplete":
        reason = {"length": "max_output_tokens"}.get(step.finish_reason or "", step.finish_reason)
        response["incomplete_details"] = {"reason": reason}
    if usage:
        prompt, completion = step.usage_for(ctx.body)
        response["usage"] = {"input_tokens": prompt, "output_tokens": completion,
                             "total_tokens": prompt + completion,
                             "input_tokens_details": {"cached_tokens": 0},
                             "output_tokens_details": {"reasoning_tokens": 0}}
    return response


def responses_stream(step: Step, ctx: Context) -> list[bytes]:
    """``response.created`` ... ``response.completed``: every event a real stream sends for
    reasoning, text (or a refusal) and function calls (interleaved when asked)."""
    seq = iter(range(1, 1_000_000))
    incomplete = step.finish_reason in ("length", "max_output_tokens", "content_filter")
    status = "incomplete" if incomplete else "completed"

    def event(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    events = [event("response.created", response=_response(step, ctx, "in_progress", [], False)),
              event("response.in_progress", response=_response(step, ctx, "in_progress", [], False))]
    output = _responses_output(step, ctx)
    pending_calls: list[list[bytes]] = []
    for index, item in enumerate(output):
        added = {**item, "status": "in_progress"}
        if item["type"] == "reasoning":
            events.append(event("response.output_item.added", output_index=index,
                                item={**added, "summary": [], "encrypted_content": None}))
            events.append(event("response.output_item.done", output_index=index, item=item))
        elif item["type"] == "message":
            part = item["content"][0]
            events.append(event("response.output_item.added", output_index=index,
                                item={**added, "content": []}))
            empty = {**part, "refusal": ""} if part["type"] == "refusal" else {**part, "text": ""}
            events.append(event("response.content_part.added", item_id=item["id"], output_index=index,
                                content_index=0, part=empty))
            if part["type"] == "refusal":
                events += [event("response.refusal.delta", item_id=item["id"], output_index=index,
                                 content_index=0, delta=p) for p in split(step.refusal, step.chunks)]
                events.append(event("response.refusal.done", item_id=item["id"], output_index=index,
                                    content_index=0, refusal=step.refusal))
            else:
                events += [event("response.output_text.delta", item_id=item["id"], output_index=index,
                                 content_index=0, delta=p, logprobs=[]) for p in step.text_chunks()]
                events.append(event("response.output_text.done", item_id=item["id"], output_index=index,
                                    content_index=0, text=step.text, logprobs=[]))
            events.append(event("response.content_part.done", item_id=item["id"], output_index=index,
                                content_index=0, part=part))
            events.append(event("response.output_item.done", output_index=index, item=item))
        else:
            spec = step.calls[int(item["id"].rsplit("_", 1)[1])]
            call_events = [event("response.output_item.added", output_index=index,
                                 item={**added, "arguments": ""})]
            call_events += [event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=index, delta=frag)
                            for frag in fragments(spec.arguments_text, spec.fragments) if frag]
            call_events.append(event("response.function_call_arguments.done", item_id=item["id"],
                                     output_index=index, name=item["name"], arguments=item["arguments"]))
            call_events.append(event("response.output_item.done", output_index=index, item=item))
            pending_calls.append(call_events)
    if step.interleave:  # parallel calls whose events are mixed, as a real server may send them
        for row in range(max((len(c) for c in pending_calls), default=0)):
            events += [c[row] for c in pending_calls if row < len(c)]
    else:
        events += [e for c in pending_calls for e in c]
    kind = "response.incomplete" if status == "incomplete" else "response.completed"
    events.append(event(kind, response=_response(step, ctx, status, output, True)))
    return events


def responses_json(step: Step, ctx: Context) -> dict[str, Any]:
    status = "incomplete" if step.finish_reason in ("length", "max_output_tokens") else "completed"
    return _response(step, ctx, status, _responses_output(step, ctx), True)


def responses_stream_error(step: Step) -> bytes:
    """An ``error`` event inside a 200 stream (the Responses API has no ``{"error": ...}`` data)."""
    return sse({"type": "error", "code": step.error_type or "server_error", "message": step.error_message,
                "param": None, "sequence_number": 0}, "error")
