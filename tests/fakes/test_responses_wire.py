"""The fake server's OpenAI Responses format, read back by the real SDK."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes.scripts import call, refusal, text, tool_calls


def client_for(server) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=0)


async def test_a_stream_runs_from_created_to_completed_with_numbered_events(fake_llm):
    fake_llm.script_responses(text("Hello world", chunks=2))
    stream = await client_for(fake_llm).responses.create(model="m", input="hi", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["Hello", " world"]
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert events[-1].response.usage.output_tokens > 0
    assert fake_llm.last_request.api == "responses"


async def test_whole_responses_carry_reasoning_message_and_calls(fake_llm):
    fake_llm.script_responses(tool_calls(call("f", {"a": 1}, id="call_9"), text="ok", reasoning="think"))
    response = await client_for(fake_llm).responses.create(model="m", input="hi")
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output[2].call_id == "call_9" and response.output[2].arguments == '{"a":1}'
    assert response.output_text == "ok"


async def test_a_refusal_is_a_refusal_content_part(fake_llm):
    fake_llm.script_responses(refusal("no"))
    stream = await client_for(fake_llm).responses.create(model="m", input="hi", stream=True)
    kinds = [event.type async for event in stream]
    assert "response.refusal.delta" in kinds and "response.output_text.delta" not in kinds


async def test_a_responses_step_on_the_chat_endpoint_is_a_loud_failure(fake_llm):
    fake_llm.script_responses(text("x"))
    client = client_for(fake_llm)
    with pytest.raises(openai.InternalServerError):  # the fake's loud 500
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert "is for the responses API" in fake_llm.failures[0]
    fake_llm.failures.clear()
