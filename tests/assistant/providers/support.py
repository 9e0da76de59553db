"""Tools and helpers shared by the provider tests.

The tools are small stand-ins with the names and arguments of the built-in ones the demo
recognises; the adapters only need their names, descriptions and generated schemas. The
SDK clients pointed at the fake server are fixtures in this folder's ``conftest.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Event,
    Finished,
    Provider,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from tools import tool


@tool
def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression.

    Args:
        expression: The expression, e.g. "2 + 2".
    """
    raise NotImplementedError


@tool
def current_time(timezone: str = "UTC") -> str:
    """The current time in a time zone.

    Args:
        timezone: An IANA time zone name such as "Asia/Tokyo".
    """
    raise NotImplementedError


@tool
def create_note(text: str) -> dict:
    """Save a note.

    Args:
        text: What to remember.
    """
    raise NotImplementedError


@tool
def search_notes(query: str) -> list:
    """Search your notes.

    Args:
        query: Words to look for.
    """
    raise NotImplementedError


@tool
def delete_note(note_id: Annotated[int, Field(ge=1)]) -> dict:
    """Delete one of your notes.

    Args:
        note_id: The note's id.
    """
    raise NotImplementedError


@tool(risk="high")
def send_email(to: list[str], subject: str, body: str) -> dict:
    """Send an email.

    Args:
        to: Recipient addresses.
        subject: The subject line.
        body: The message.
    """
    raise NotImplementedError


@tool(strict=False)
def tag_things(labels: dict[str, str]) -> dict:
    """Attach free-form labels (a free-form object cannot be a strict schema).

    Args:
        labels: Label name to value.
    """
    raise NotImplementedError


ALL_TOOLS = [calculator, current_time, create_note, search_notes, delete_note, send_email]

# Keys the adapters must never echo (the fake server quotes them back in its error bodies).
OPENAI_KEY = "sk-test-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"


def ask(content: str = "Hi", *, model: str = "gpt-test", **options: Any) -> ChatRequest:
    """One user message, with any other ``ChatRequest`` field."""
    return ChatRequest(model=model, messages=[ChatMessage("user", content)], **options)


async def collect(provider: Provider, request: ChatRequest) -> list[Event]:
    return [event async for event in provider.stream(request)]


async def collect_until_error(provider: Provider, request: ChatRequest) -> tuple[list[Event], ProviderError]:
    """The events streamed before the adapter raised, and what it raised (it must raise)."""
    seen: list[Event] = []
    try:
        async for event in provider.stream(request):
            seen.append(event)
    except ProviderError as error:
        return seen, error
    raise AssertionError(f"the stream ended without a ProviderError: {seen}")


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def of_type(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def finished(events: list[Event]) -> Finished:
    done = of_type(events, Finished)
    assert len(done) == 1, f"expected exactly one Finished, got {events}"
    assert events[-1] is done[0], "Finished must be the last event"
    return done[0]


def calls(events: list[Event]) -> list[ToolCallFinished]:
    return of_type(events, ToolCallFinished)


__all__ = [
    "ALL_TOOLS", "ANTHROPIC_KEY", "OPENAI_KEY", "ToolCallDelta", "ToolCallStarted", "Usage", "ask",
    "calculator", "calls", "collect", "collect_until_error", "create_note", "current_time",
    "delete_note", "finished", "of_type", "search_notes", "send_email", "tag_things", "text_of",
]
