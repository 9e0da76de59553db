"""An offline stand-in for a model: a few pattern-matching rules, so Toolgate works with no key.

It is deliberately *not* a language model and says so. It exists so that a fresh install
(``make run``, no API key, no network) can show the whole loop — a tool call proposed,
validated, approved, executed and answered — and so that tests and demos are exact. It
speaks the same event stream as the real adapters, word by word, and only ever proposes
tools that are in ``request.tools`` (a tool the user may not use is never offered).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from assistant.providers import demo_extract
from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Event,
    Finished,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolResultPart,
    Usage,
)

CITY_ZONES: dict[str, str] = {
    "tokyo": "Asia/Tokyo", "osaka": "Asia/Tokyo", "london": "Europe/London",
    "paris": "Europe/Paris", "berlin": "Europe/Berlin", "madrid": "Europe/Madrid",
    "rome": "Europe/Rome", "amsterdam": "Europe/Amsterdam", "moscow": "Europe/Moscow",
    "new york": "America/New_York", "nyc": "America/New_York", "boston": "America/New_York",
    "chicago": "America/Chicago", "denver": "America/Denver",
    "los angeles": "America/Los_Angeles", "la": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "toronto": "America/Toronto", "sao paulo": "America/Sao_Paulo", "são paulo": "America/Sao_Paulo",
    "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne", "singapore": "Asia/Singapore",
    "hong kong": "Asia/Hong_Kong", "shanghai": "Asia/Shanghai", "beijing": "Asia/Shanghai",
    "seoul": "Asia/Seoul", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata", "dubai": "Asia/Dubai", "cairo": "Africa/Cairo",
    "johannesburg": "Africa/Johannesburg", "utc": "UTC", "gmt": "UTC",
}

EXAMPLES: dict[str, str] = {
    "calculator": '"what is 12*7" or "calculate (3 + 4) / 2"',
    "current_time": '"what time is it in Tokyo?"',
    "create_note": '"note: buy milk" or "remember that the meeting moved to 3pm"',
    "search_notes": '"find my notes about milk" or "search notes for meeting"',
    "delete_note": '"delete note 3"',
    "send_email": '"email bob@example.com saying hi"',
}

_CALL = re.compile(r"^/call\s+([A-Za-z0-9_-]+)\s*(.*)$", re.DOTALL)
_MATH = re.compile(r"^[\d\s.+\-*/%^()\u00d7\u00f7xX,]+$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("delete_note", re.compile(
        r"^(?:please\s+)?(?:delete|remove|erase)\s+note\s*(?:#|number\s+)?(\d+)\W*$", re.I)),
    ("send_email", re.compile(
        r"^(?:please\s+)?(?:send\s+an?\s+)?e-?mail\s+(?:to\s+)?(.+?)(?:\s+(?:saying|that\s+says|with)|\s*:)\s*(.+)$",
        re.I | re.S)),
    ("current_time", re.compile(
        r"^(?:what(?:['\u2019]?s|\s+is)\s+the\s+(?:current\s+)?time|what\s+time\s+is\s+it|(?:the\s+)?current\s+time"
        r"|time)(?:\s+(?:now|right\s+now))?(?:\s+(?:in|at|for|on)\s+(.+?))?\s*[?.!]*$", re.I)),
    ("search_notes", re.compile(
        r"^(?:please\s+)?(?:find|search|show|list|look\s+up)\s+(?:in\s+)?(?:my\s+|the\s+)?notes?\s+"
        r"(?:about|for|on|with|mentioning|containing|that\s+mention)\s+(.+?)\s*[?.!]*$", re.I)),
    ("create_note", re.compile(
        r"^(?:note|remember(?:\s+that|\s+to)?|make\s+a\s+note(?:\s+that)?|add\s+a\s+note|save\s+a\s+note"
        r"|take\s+a\s+note)\s*(?::|-|,|\s)\s*(.+)$", re.I | re.S)),
    ("calculator", re.compile(
        r"^(?:what(?:['\u2019]?s|\s+is)|calculate|compute|evaluate|how\s+much\s+is|solve)\s+"
        r"(.+?)\s*[?=]*\s*$", re.I)),
]


class DemoProvider:
    """The rule-based demo "model". ``word_delay`` slows streaming for a realistic UI."""

    def __init__(self, *, name: str = "demo", word_delay: float = 0.0) -> None:
        self.name = name
        self.word_delay = word_delay

    async def aclose(self) -> None:
        """Nothing to close; here so every adapter can be closed the same way."""

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """What the demo looks at; nothing is sent anywhere."""
        return {
            "model": request.model or "demo",
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "tools": [tool.name for tool in request.tools],
            "tool_choice": request.tool_choice,
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        if request.output is not None or _forced_tool(request) is not None:
            for event in _extraction(request):  # structured output: assistant/providers/demo_extract.py
                yield event
            return
        available = {tool.name for tool in request.tools}
        last = request.messages[-1] if request.messages else None
        calls: list[tuple[str, str]] = []
        if last is not None and last.role == "tool":
            answer = _answer_results(last.tool_results, _calls_before(request.messages))
        else:
            intent = _intent(last.content if last is not None else "")
            if intent is None:
                answer = _capabilities(request)
            elif intent[0] not in available:
                answer = (f"The `{intent[0]}` tool isn't available to you here, so I can't do that. "
                          + _available_sentence(request))
            elif request.tool_choice == "none":
                answer = f"I would use the `{intent[0]}` tool, but tools are switched off for this reply."
            else:
                calls = [intent]
                answer = ""
        output_words = 0
        for word in re.findall(r"\S+\s*|\s+", answer):
            output_words += 1
            yield TextDelta(word)
            if self.word_delay:
                await asyncio.sleep(self.word_delay)
        for index, (name, arguments) in enumerate(calls):
            call_id = _call_id(request.messages, name, arguments)
            yield ToolCallStarted(index, call_id, name)
            yield ToolCallDelta(index, call_id, arguments)
            yield ToolCallFinished(index, call_id, name, arguments)
            output_words += len(arguments.split())
        yield Usage(sum(len(m.content.split()) for m in request.messages), output_words)
        digest = hashlib.sha256(f"{len(request.messages)}:{answer}:{calls}".encode()).hexdigest()[:16]
        yield Finished("tool_calls" if calls else "stop", "tool_calls" if calls else "stop", f"demo-{digest}")


# --- extraction requests -------------------------------------------------------------------


def _forced_tool(request: ChatRequest) -> Any:
    return next((t for t in request.tools if t.name == request.tool_choice), None)


def _extraction(request: ChatRequest) -> list[Event]:
    """Fill the schema from the first user message (corrections change nothing: the rules
    are the rules), as JSON text or as the forced tool's arguments."""
    text = next((m.content for m in request.messages if m.role == "user"), "")
    tool = _forced_tool(request)
    schema = request.output.schema if request.output is not None else tool.parameters
    arguments = json.dumps(demo_extract.fill(schema, text), ensure_ascii=False)
    digest = hashlib.sha256(f"{len(request.messages)}:{arguments}".encode()).hexdigest()[:16]
    usage = Usage(sum(len(m.content.split()) for m in request.messages), len(arguments.split()))
    if request.output is not None:
        return [TextDelta(arguments), usage, Finished("stop", "stop", f"demo-{digest}")]
    call_id = _call_id(request.messages, tool.name, arguments)
    return [ToolCallStarted(0, call_id, tool.name), ToolCallDelta(0, call_id, arguments),
            ToolCallFinished(0, call_id, tool.name, arguments), usage,
            Finished("tool_calls", "tool_calls", f"demo-{digest}")]


# --- understanding the user -----------------------------------------------------------------


def _intent(text: str) -> tuple[str, str] | None:
    """``(tool name, JSON arguments)`` for a recognised request, else None."""
    text = text.strip()
    explicit = _CALL.match(text)
    if explicit:  # arguments verbatim, even malformed: the pipeline explains what is wrong
        return explicit[1], explicit[2].strip() or "{}"
    for name, pattern in _RULES:
        match = pattern.match(text)
        if match is None:
            continue
        arguments = _arguments(name, match)
        if arguments is not None:
            return name, json.dumps(arguments, ensure_ascii=False)
    if _MATH.match(text) and re.search(r"\d", text) and re.search(r"[+\-*/%^\u00d7\u00f7]", text):
        return "calculator", json.dumps({"expression": _expression(text)})
    return None


def _arguments(name: str, match: re.Match[str]) -> dict[str, Any] | None:
    if name == "delete_note":
        return {"note_id": int(match[1])}
    if name == "send_email":
        recipients = _EMAIL.findall(match[1])
        body = match[2].strip()
        if not recipients or not body:
            return None
        subject = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0][:60].rstrip(".!?")
        return {"to": recipients, "subject": subject[:1].upper() + subject[1:], "body": body}
    if name == "current_time":
        place = (match[1] or "UTC").strip().strip("?.!")
        return {"timezone": CITY_ZONES.get(place.lower(), place)}
    if name == "search_notes":
        return {"query": match[1].strip()}
    if name == "create_note":
        return {"text": match[1].strip()}
    if name == "calculator":
        expression = match[1].strip()
        if not (_MATH.match(expression) and re.search(r"\d", expression)):
            return None  # "what is the capital of France" is not arithmetic
        return {"expression": _expression(expression)}
    return None


def _expression(text: str) -> str:
    """People write 3x4, 3\u00d74, 6\u00f72 and 2^10; the calculator wants * / and **."""
    text = re.sub(r"(?<=\d)\s*[xX\u00d7]\s*(?=\d)", "*", text).replace("\u00f7", "/")
    return text.replace("^", "**").strip()


def _call_id(messages: list[ChatMessage], name: str, arguments: str) -> str:
    """Deterministic, and unique within a conversation (it includes the turn's position)."""
    digest = hashlib.sha256(f"{len(messages)}:{name}:{arguments}".encode()).hexdigest()[:12]
    return f"call_demo_{len(messages)}_{digest}"


# --- answering ------------------------------------------------------------------------------


def _capabilities(request: ChatRequest) -> str:
    lines = [
        "I'm the offline demo assistant: a handful of pattern-matching rules, not a language "
        "model, so I only understand a few phrasings. Configure a real model (see "
        "docs/providers.md) for free-form chat.",
    ]
    tools = list(request.tools)
    if not tools:
        lines.append("No tools are available to you right now, so there is nothing I can do.")
        return "\n\n".join(lines)
    lines.append("Things I can do for you here:")
    for tool in tools:
        example = EXAMPLES.get(tool.name)
        summary = tool.description.strip().splitlines()[0] if tool.description else ""
        lines.append(f"- `{tool.name}`: " + (f"try {example}" if example else summary))
    lines.append('Or call any of these tools directly: /call TOOL_NAME {"argument": "value"}')
    return "\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])


def _available_sentence(request: ChatRequest) -> str:
    names = ", ".join(f"`{t.name}`" for t in request.tools)
    return f"Tools you can use: {names}." if names else "No tools are available to you right now."


def _calls_before(messages: list[ChatMessage]) -> dict[str, tuple[str, str]]:
    """Call id → (name, arguments) for the assistant turn the results answer."""
    for message in reversed(messages[:-1]):
        if message.role == "assistant" and message.tool_calls:
            return {c.id: (c.name, c.arguments) for c in message.tool_calls}
    return {}


def _answer_results(results: tuple[ToolResultPart, ...], calls: dict[str, tuple[str, str]]) -> str:
    return " ".join(_answer_one(r, calls.get(r.call_id, (r.name, "{}"))[1]) for r in results) or "Done."


def _answer_one(result: ToolResultPart, arguments: str) -> str:
    """One sentence about a result. What the result says ran comes before the arguments the
    call asked for: an approver may have edited them (another recipient, another note)."""
    try:
        output: Any = json.loads(result.content)
    except ValueError:
        output = result.content
    args = _loads_dict(arguments)
    error = output.get("error") if isinstance(output, dict) else None
    if result.is_error or isinstance(error, dict):
        return _explain_error(result.name, error if isinstance(error, dict) else {"message": str(output)})
    name = result.name
    if name == "calculator":
        value = output if not isinstance(output, dict) else _pick(output, "result", "value", "answer")
        expression = _pick(output, "expression") or args.get("expression")
        return f"{expression} = {_show(value)}" if expression else f"The result is {_show(value)}."
    if name == "current_time":
        zone = _pick(output, "timezone", "zone") or args.get("timezone", "")
        value = output if not isinstance(output, dict) else _pick(
            output, "time", "local_time", "datetime", "iso", "now")
        day = ", ".join(str(_pick(output, k)) for k in ("weekday", "date") if _pick(output, k))
        when = f"{_show(value)} ({day})" if day else _show(value)
        return f"It is {when} in {zone}." if zone else f"It is {when}."
    if name == "create_note":
        note_id = _pick(output, "id", "note_id", "pk")
        return f"Saved note {note_id}." if note_id is not None else "Saved the note."
    if name == "search_notes":
        return _describe_notes(output, args.get("query", ""))
    if name == "delete_note":
        note_id = _pick(output, "id", "note_id")
        return f"Deleted note {note_id if note_id is not None else args.get('note_id')}."
    if name == "send_email":
        to = _pick(output, "to", "recipients") or args.get("to") or []
        to = ", ".join(to) if isinstance(to, list) else str(to)
        return f"Sent the email to {to}." if to else "Sent the email."
    return f"The `{name}` tool returned: {_show(output)}"


def _explain_error(name: str, error: dict[str, Any]) -> str:
    kind = str(error.get("type", "error"))
    message = str(error.get("message", "")).strip()
    if kind == "denied":
        return f"The `{name}` call was denied, so nothing was done." + (f" ({message})" if message else "")
    if kind == "approval_required":
        return f"The `{name}` call is waiting for approval."
    hint = f" Hint: {error['hint']}" if error.get("hint") else ""
    return f"The `{name}` tool failed ({kind}): {message or 'no details given'}.{hint}"


def _describe_notes(output: Any, query: str) -> str:
    notes = output if isinstance(output, list) else _pick(output, "notes", "results", "items") or []
    about = f" about {query!r}" if query else ""
    if not isinstance(notes, list) or not notes:
        return f"I found no notes{about}."
    shown = []
    for note in notes[:5]:
        if isinstance(note, dict):
            note_id = _pick(note, "id", "note_id", "pk")
            body = _pick(note, "text", "body", "content", "title") or ""
            shown.append(f"#{note_id} {body}".strip() if note_id is not None else str(body))
        else:
            shown.append(str(note))
    more = f" (and {len(notes) - 5} more)" if len(notes) > 5 else ""
    plural = "note" if len(notes) == 1 else "notes"
    return f"I found {len(notes)} {plural}{about}: " + "; ".join(shown) + more + "."


def _pick(value: Any, *keys: str) -> Any:
    """The first of ``keys`` present in a dict result; None for other results."""
    if not isinstance(value, dict):
        return None
    for key in keys:
        if value.get(key) is not None:
            return value[key]
    return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:299] + "…"


def _loads_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
