"""What the chat engine adds to a two-turn tool round, over talking to the SDK directly.

A round is: model turn that calls a tool → the tool runs → model turn that answers. Both
sides use the real OpenAI SDK (streaming) against the scripted fake server on loopback and
the same answers; the engine side also stores the messages, the run, the ToolCall record
and its link in SQLite. Target: the engine adds under 5 ms per round.

Standalone: ``python bench/engine.py [--rounds N]``; uses its own temporary database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "bench.sqlite3")
os.environ["LOG_LEVEL"] = "ERROR"
os.environ["BENCH_LLM_KEY"] = "sk-bench"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from assistant.engine import Engine  # noqa: E402
from assistant.models import Conversation, Run  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402
from tests.fakes.scripts import call, text, tool_calls  # noqa: E402
from tools.pipeline import Pipeline  # noqa: E402
from tools.registry import Registry  # noqa: E402

TARGET_MS = 5.0
TOOL_ARGS = {"a": 2, "b": 3}
ANSWER = "Two plus three is five."


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def script(server: FakeLLMServer, i: int) -> None:
    server.script_openai(tool_calls(call("add", TOOL_ARGS, id=f"call_{i}", fragments=3)),
                         text(ANSWER, chunks=6))


async def direct_round(client: AsyncOpenAI, tools: list[dict], system: str) -> None:
    messages: list[dict] = [{"role": "system", "content": system}, {"role": "user", "content": "add 2 and 3"}]
    calls: dict[int, dict] = {}
    stream = await client.chat.completions.create(model="gpt-bench", messages=messages, tools=tools,
                                                  stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = delta.id or entry["id"]
                if delta.function:
                    entry["name"] = delta.function.name or entry["name"]
                    entry["arguments"] += delta.function.arguments or ""
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls.values()]})
    for c in calls.values():
        messages.append({"role": "tool", "tool_call_id": c["id"],
                         "content": json.dumps(add(**json.loads(c["arguments"])))})
    stream = await client.chat.completions.create(model="gpt-bench", messages=messages, tools=tools,
                                                  stream=True, stream_options={"include_usage": True})
    text_parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(text_parts) == ANSWER


async def main(rounds: int) -> None:
    user = await get_user_model().objects.acreate(username="bench")
    registry = Registry()
    add_tool = registry.register(add)
    from tools.exports import to_openai

    tools = [to_openai(add_tool)]
    with FakeLLMServer() as server:
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_PROFILES = json.dumps({"bench": {
            "provider": "openai", "model": "gpt-bench", "base_url": server.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY"}})
        engine = Engine(pipeline=Pipeline(registry))
        client = AsyncOpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        warmup = 20
        direct, through = [], []
        for i in range(rounds + warmup):
            script(server, 2 * i)
            start = time.perf_counter()
            await direct_round(client, tools, settings.ASSISTANT_SYSTEM_PROMPT)
            elapsed_direct = time.perf_counter() - start
            convo = await Conversation.objects.acreate(owner=user, profile="bench")
            script(server, 2 * i + 1)
            start = time.perf_counter()
            run = await engine.send(convo, user, "add 2 and 3")
            elapsed_engine = time.perf_counter() - start
            assert run.status == Run.Status.COMPLETED, (run.status, run.error)
            if i >= warmup:
                direct.append(elapsed_direct * 1000)
                through.append(elapsed_engine * 1000)
        server.check()
    d, e = statistics.median(direct), statistics.median(through)
    print(f"two-turn tool round, {rounds} rounds each, fake OpenAI server on loopback, SQLite")
    print(f"{'path':<34}{'median ms':>12}{'p95 ms':>10}")
    for name, values in (("direct SDK (2 streamed requests)", direct), ("through the engine", through)):
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"{name:<34}{statistics.median(values):>12.2f}{p95:>10.2f}")
    verdict = "ok" if e - d < TARGET_MS else "MISSED"
    print(f"engine adds {e - d:.2f} ms per round (ratio {e / d:.2f}x); target < {TARGET_MS} ms: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    call_command("migrate", verbosity=0)
    asyncio.run(main(parser.parse_args().rounds))
