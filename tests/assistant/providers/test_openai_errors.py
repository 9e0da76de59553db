"""Both OpenAI adapters report failures through one mapping (assistant/providers/openai_errors.py).

Each test runs against Chat Completions and the Responses API alike, through the real SDK
and the fake server, with the SDK's retries off (as in production) so every failure is the
first attempt's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from openai import AsyncOpenAI

from assistant.providers.base import SDKProvider
from assistant.providers.openai_chat import OpenAIChatProvider
from assistant.providers.openai_responses import OpenAIResponsesProvider
from tests.assistant.providers.support import OPENAI_KEY, ask, collect, collect_until_error, text_of
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.scripts import error, text

ADAPTERS = {"chat": OpenAIChatProvider, "responses": OpenAIResponsesProvider}
Make = Callable[..., SDKProvider]


@pytest.fixture(params=list(ADAPTERS))
def api(request) -> str:
    return request.param


@pytest.fixture
async def make(api) -> AsyncIterator[Make]:
    """Builds the adapter under test on a fresh client for ``base_url``; closes them all."""
    clients: list[AsyncOpenAI] = []

    def build(base_url: str, timeout: float = 10) -> SDKProvider:
        clients.append(AsyncOpenAI(api_key=OPENAI_KEY, base_url=base_url, max_retries=0, timeout=timeout))
        return ADAPTERS[api](client=clients[-1])

    yield build
    for client in clients:
        await client.close()


def script(fake_llm, api: str):
    return fake_llm.script_openai if api == "chat" else fake_llm.script_responses


@pytest.mark.parametrize(("headers", "seconds"), [({"retry-after": "7"}, 7.0),
                                                  ({"retry-after-ms": "1500"}, 1.5)])
async def test_a_429_carries_the_wait_the_server_asked_for(fake_llm, api, make, headers, seconds):
    script(fake_llm, api)(error(429, retry_after_ms=None, headers=headers))
    _, caught = await collect_until_error(make(fake_llm.openai_base_url), ask())
    assert (caught.kind, caught.status, caught.retry_after) == ("rate_limited", 429, seconds)
    assert caught.user_message == "OpenAI is rate-limiting requests (HTTP 429). Try again in a moment."


async def test_a_429_without_a_wait_leaves_the_backoff_to_the_engine(fake_llm, api, make):
    script(fake_llm, api)(error(429, retry_after_ms=None))
    _, caught = await collect_until_error(make(fake_llm.openai_base_url), ask())
    assert caught.kind == "rate_limited" and caught.retry_after is None


async def test_a_slow_server_is_a_timeout(fake_llm, api, make):
    script(fake_llm, api)(text("late").delayed(first=3))
    _, caught = await collect_until_error(make(fake_llm.openai_base_url, timeout=0.2), ask())
    assert caught.kind == "timeout"
    assert caught.user_message == ("OpenAI did not respond within 0.2 seconds. "
                                   "Try again, or raise LLM_TIMEOUT.")


async def test_an_unreachable_server_is_a_connection_error_naming_the_host(make):
    with FakeLLMServer() as gone:
        url = gone.openai_base_url
    _, caught = await collect_until_error(make(url, timeout=2), ask())
    assert caught.kind == "connection"
    assert url.split("//")[1].split("/")[0] in caught.user_message


async def test_a_server_error_body_is_quoted_without_the_key(fake_llm, api, make):
    script(fake_llm, api)(error(400, f"context too long (key {OPENAI_KEY})"))
    _, caught = await collect_until_error(make(fake_llm.openai_base_url), ask())
    assert caught.user_message == "OpenAI rejected the request (HTTP 400): context too long (key [redacted])"


async def test_after_a_429_the_next_request_answers(fake_llm, api, make):
    script(fake_llm, api)(error(429), text("fine now"))
    provider = make(fake_llm.openai_base_url)
    await collect_until_error(provider, ask())
    assert text_of(await collect(provider, ask())) == "fine now"
