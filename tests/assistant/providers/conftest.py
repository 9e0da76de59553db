"""The real SDK clients, pointed at the scripted fake server, that the adapter tests drive.

``max_retries=2``: the SDK's own retries are on here (three attempts), so the tests see
how each adapter counts and reports them; production turns them off (the engine retries).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from tests.assistant.providers.support import ANTHROPIC_KEY, OPENAI_KEY


@pytest.fixture
async def openai_client(fake_llm) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(api_key=OPENAI_KEY, base_url=fake_llm.openai_base_url, max_retries=2, timeout=10)
    yield client
    await client.close()


@pytest.fixture
async def anthropic_client(fake_llm) -> AsyncIterator[AsyncAnthropic]:
    client = AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=fake_llm.anthropic_base_url, max_retries=2,
                            timeout=10)
    yield client
    await client.close()
