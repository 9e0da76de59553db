"""Chat Completions with ``response_format`` and OpenAI's ``refusal`` field (issue 16)."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from assistant.providers.base import ChatMessage, ChatRequest, OutputFormat
from assistant.providers.openai_chat import OpenAIChatProvider
from tests.assistant.providers.support import collect, finished, text_of
from tests.fakes.scripts import refusal, text

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
          "additionalProperties": False}


@pytest.fixture
async def provider(fake_llm):
    client = AsyncOpenAI(api_key="sk-test", base_url=fake_llm.openai_base_url, max_retries=0, timeout=10)
    yield OpenAIChatProvider(client=client)
    await client.close()


def ask(**options) -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[ChatMessage("user", "a is 1")], **options)


@pytest.mark.parametrize(("output", "expected"), [
    (OutputFormat("thing", SCHEMA, strict=True),
     {"type": "json_schema", "json_schema": {"name": "thing", "schema": SCHEMA, "strict": True}}),
    (OutputFormat("thing", SCHEMA, strict=False),
     {"type": "json_schema", "json_schema": {"name": "thing", "schema": SCHEMA}}),
    (OutputFormat("thing", SCHEMA, mode="json_object"), {"type": "json_object"}),
])
async def test_structured_output_is_sent_as_response_format(fake_llm, provider, output, expected):
    fake_llm.script_openai(text('{"a": 1}'))
    await collect(provider, ask(output=output))
    assert fake_llm.last_body["response_format"] == expected


async def test_no_response_format_without_a_structured_output_request(fake_llm, provider):
    fake_llm.script_openai(text("hi"))
    await collect(provider, ask())
    assert "response_format" not in fake_llm.last_body


async def test_a_refusal_is_shown_and_finishes_as_a_refusal(fake_llm, provider):
    fake_llm.script_openai(refusal("I can't help with that.", chunks=3))
    events = await collect(provider, ask())
    assert text_of(events) == "I can't help with that."
    done = finished(events)
    assert (done.reason, done.raw_reason) == ("content_filter", "refusal")
