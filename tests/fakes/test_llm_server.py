"""The fake LLM server itself: scripting, recording, failures, default mode and concurrency."""

from __future__ import annotations

import asyncio
import json
import time

import httpx2
import pytest
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from tests.fakes.llm_server import FakeLLMServer, RecordedRequest, running
from tests.fakes.scripts import call, error, split, text, tool_calls, words


def openai_client(server: FakeLLMServer, **options) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sk-test", base_url=server.openai_base_url, **options)


async def stream_text(client: AsyncOpenAI, content: str = "hi") -> str:
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": content}], stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


@pytest.mark.parametrize(("content", "n"), [
    ("Hello world", 5), ("one two three four five six", 4), ("a", 3), ("  spaced   out  ", 3), ("x y", 1),
])
def test_split_pieces_concatenate_back_to_the_text(content, n):
    pieces = split(content, n)

    assert "".join(pieces) == content
    assert len(pieces) == min(n, len(content))
    assert all(pieces)


async def test_requests_are_recorded_with_path_headers_and_parsed_body(fake_llm):
    fake_llm.script_openai(text("ok"))
    client = openai_client(fake_llm)

    await stream_text(client, "record me")

    request = fake_llm.last_request
    assert (request.method, request.path, request.api, request.stream) == (
        "POST", "/v1/chat/completions", "openai", True)
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["messages"] == [{"role": "user", "content": "record me"}]
    assert json.loads(request.raw) == request.body
    assert fake_llm.bodies("openai") == [request.body] and fake_llm.bodies("anthropic") == []
    await client.close()


async def test_the_script_is_answered_in_order_over_one_kept_alive_connection(fake_llm):
    fake_llm.script_openai(text("first"), text("second"), text("third"))
    client = openai_client(fake_llm)

    answers = [await stream_text(client) for _ in range(3)]

    assert answers == ["first", "second", "third"]
    assert fake_llm.pending == 0
    assert fake_llm.connections == 1
    await client.close()


async def test_usage_is_sent_only_when_the_client_asks_for_it(fake_llm):
    fake_llm.script_openai(text("a"), text("b"))
    async with httpx2.AsyncClient(base_url=fake_llm.openai_base_url) as http:
        plain = await http.post("/chat/completions", json={"model": "m", "messages": [], "stream": True})
        asked = await http.post("/chat/completions", json={"model": "m", "messages": [], "stream": True,
                                                           "stream_options": {"include_usage": True}})

    assert '"usage"' not in plain.text
    assert plain.text.endswith("data: [DONE]\n\n")
    assert '"usage":{"prompt_tokens"' in asked.text


async def test_non_streaming_requests_get_whole_json_responses_the_sdks_parse(fake_llm):
    fake_llm.script_openai(tool_calls(call("calculator", {"expression": "1+1"}, id="c1"), text="Sure."))
    fake_llm.script_anthropic(tool_calls(call("calculator", {"expression": "1+1"}, id="t1"), text="Sure."))
    client = openai_client(fake_llm)
    claude = AsyncAnthropic(api_key="sk-ant", base_url=fake_llm.anthropic_base_url)

    completion = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    message = await claude.messages.create(model="m", max_tokens=5,
                                           messages=[{"role": "user", "content": "x"}])

    choice = completion.choices[0]
    assert choice.message.content == "Sure." and choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.arguments == '{"expression":"1+1"}'
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"expression": "1+1"} and message.stop_reason == "tool_use"
    await client.close()
    await claude.close()


async def test_an_unexpected_request_fails_loudly_and_is_not_retried():
    with FakeLLMServer() as server:
        client = openai_client(server, max_retries=3)
        with pytest.raises(Exception, match="no scripted response left for POST /v1/chat/completions"):
            await stream_text(client)
        await client.close()

        assert len(server.requests) == 1  # x-should-retry: false stops the SDK's retries
        assert server.failures == [
            "no scripted response left for POST /v1/chat/completions (request #1); script one with "
            "server.script_openai(...) or set server.default"
        ]
        with pytest.raises(AssertionError, match="fake LLM server failures"):
            server.check()


async def test_a_step_scripted_for_the_other_api_is_a_failure():
    with FakeLLMServer() as server:
        server.script_anthropic(text("for claude"))
        async with httpx2.AsyncClient(base_url=server.openai_base_url) as http:
            response = await http.post("/chat/completions", json={"model": "m", "messages": []})

        assert response.status_code == 500
        assert "the next scripted step is for the anthropic API" in response.json()["error"]["message"]
        assert len(server.failures) == 1


async def test_errors_carry_the_provider_error_body_and_instant_retry_headers(fake_llm):
    fake_llm.script(error(429), error(429))
    async with httpx2.AsyncClient(base_url=fake_llm.url) as http:
        openai_style = await http.post("/v1/chat/completions", json={})
        anthropic_style = await http.post("/v1/messages", json={})

    assert openai_style.status_code == 429
    assert openai_style.headers["retry-after-ms"] == "1" and openai_style.headers["retry-after"] == "0"
    assert openai_style.json()["error"]["code"] == "rate_limit_exceeded"
    assert anthropic_style.json() == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached for requests."},
    }


async def test_default_mode_answers_when_the_script_is_empty():
    def echo(request: RecordedRequest):
        return text(f"you said {request.body['messages'][-1]['content']}")

    with running(default=text(words(3), chunks=3)) as server:
        client = openai_client(server)
        assert await stream_text(client) == "token1 token2 token3"
        server.script_openai(text("scripted first"))
        assert await stream_text(client) == "scripted first"
        server.default = echo
        assert await stream_text(client, "ping") == "you said ping"
        await client.close()


async def test_a_delay_between_chunks_spaces_them_out(fake_llm):
    fake_llm.script_openai(text("a b c d e", chunks=5).delayed(between=0.03))
    client = openai_client(fake_llm)

    started = time.perf_counter()
    assert await stream_text(client) == "a b c d e"

    assert time.perf_counter() - started >= 0.03 * 5  # role chunk, 5 text chunks, finish, [DONE]
    await client.close()


async def test_two_hundred_and_fifty_concurrent_streams_are_served_at_once():
    streams = 250
    with running(default=text(words(20), chunks=20).delayed(between=0.01)) as server:
        client = openai_client(server, max_retries=0, timeout=30)

        answers = await asyncio.wait_for(
            asyncio.gather(*(stream_text(client) for _ in range(streams))), timeout=60)

        assert answers == [words(20)] * streams
        assert len(server.requests) == streams
        assert server.max_active >= 200  # they really overlapped
        await client.close()


def test_stop_ends_streams_still_in_progress_and_returns_promptly():
    server = FakeLLMServer().start()
    server.default = text("slow").delayed(first=30)

    async def hang() -> None:
        async with httpx2.AsyncClient(base_url=server.url, timeout=60) as http:
            await http.post("/v1/chat/completions", json={"stream": True})

    async def main() -> None:
        task = asyncio.ensure_future(hang())
        while not server.requests:  # the server runs in another thread: poll  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
        assert time.perf_counter() - started < 5
        with pytest.raises(httpx2.HTTPError):
            await task

    asyncio.run(main())
