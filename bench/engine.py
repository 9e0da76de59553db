"""What the chat engine adds to a two-turn tool round, over talking to the SDK directly.

A round is: model turn that calls a tool → the tool runs → model turn that answers. Both
sides use the real OpenAI SDK (streaming) against the scripted fake server on loopback and
the same answers; the engine side also stores the messages, the run, the ToolCall record,
its link and the audit events in SQLite. Rounds alternate between the paths, so a machine
that slows down meanwhile slows both. Target: the engine adds under 5 ms per round.

Also printed: the same engine with the audit journal switched off (``TOOLS_JOURNAL`` without
``approvals.hooks.observe``), and where the engine's time goes: each durable write of a
round (one transaction each, run in Django's database thread), timed inside that thread.

Then the cost of history: one-turn runs in conversations that already hold 10, 100 and
1,000 messages (user, a tool call, its result, an answer, repeated), against the same
request with the same history sent directly with the SDK, interleaved. The engine's
added cost should not grow with the history. Target: the 1,000-message overhead within
2 ms of the 10-message one. (Each engine round adds its two messages to the conversation,
so "1,000" is 1,000 to 1,000 + 2 x rounds.)

Standalone: ``python bench/engine.py [--rounds N] [--history-rounds N]``; uses its own
temporary database.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

from assistant.models import Conversation, Message, Run  # noqa: E402
from assistant.runs import store  # noqa: E402
from assistant.runs.engine import Engine  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402
from tests.fakes.scripts import call, text, tool_calls  # noqa: E402
from tools import records  # noqa: E402
from tools.gate import clear_caches  # noqa: E402
from tools.pipeline import Pipeline  # noqa: E402
from tools.registry import Registry  # noqa: E402

TARGET_MS = 5.0
AUDIT_OFF = ["assistant.ops.metrics.observe_tool_call"]
# The durable writes of one round, in order: (module, function, what it stores).
WRITES = [
    (store, "start_run", "user message + run (and the history read)"),
    (store, "save_assistant_turn", "model turns (the 2nd also completes the run)"),
    (records, "_create", "ToolCall opened + 4 audit events"),
    (records, "finish", "ToolCall finished + 1 audit event"),
    (store, "save_tool_turn", "tool results turn + link"),
]
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


def time_writes(timings: dict[str, list[float]]) -> None:
    """Time each durable write where it runs (the database thread), per call."""
    for module, name, _ in WRITES:
        original = getattr(module, name)

        def timed(*args: Any, _original: Callable[..., Any] = original, _name: str = name,
                  **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                timings[_name].append((time.perf_counter() - start) * 1000)

        setattr(module, name, functools.wraps(original)(timed))


async def main(rounds: int) -> None:
    user = await get_user_model().objects.acreate(username="bench")
    registry = Registry()
    add_tool = registry.register(add)
    from tools.exports import to_openai

    tools = [to_openai(add_tool)]
    audit_on = list(settings.TOOLS_JOURNAL)
    writes: dict[str, list[float]] = defaultdict(list)
    with FakeLLMServer() as server:
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_PROFILES = json.dumps({"bench": {
            "provider": "openai", "model": "gpt-bench", "base_url": server.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY"}})
        engine = Engine(pipeline=Pipeline(registry))
        client = AsyncOpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)

        async def through(journal: list[str], i: int) -> float:
            settings.TOOLS_JOURNAL = journal
            clear_caches()
            convo = await Conversation.objects.acreate(owner=user, profile="bench")
            script(server, i)
            start = time.perf_counter()
            run = await engine.send(convo, user, "add 2 and 3")
            elapsed = time.perf_counter() - start
            assert run.status == Run.Status.COMPLETED, (run.status, run.error)
            return elapsed * 1000

        warmup = 20
        direct, engine_ms, no_audit = [], [], []
        for i in range(rounds + warmup):
            if i == warmup:
                time_writes(writes)
            script(server, 3 * i)
            start = time.perf_counter()
            await direct_round(client, tools, settings.ASSISTANT_SYSTEM_PROMPT)
            elapsed_direct = (time.perf_counter() - start) * 1000
            elapsed_engine = await through(audit_on, 3 * i + 1)
            elapsed_no_audit = await through(AUDIT_OFF, 3 * i + 2)
            if i >= warmup:
                direct.append(elapsed_direct)
                engine_ms.append(elapsed_engine)
                no_audit.append(elapsed_no_audit)
        settings.TOOLS_JOURNAL = audit_on
        clear_caches()
        server.check()
    d, e, n = statistics.median(direct), statistics.median(engine_ms), statistics.median(no_audit)
    print(f"two-turn tool round, {rounds} rounds each, fake OpenAI server on loopback, SQLite")
    print(f"{'path':<40}{'median ms':>12}{'p95 ms':>10}")
    for name, values in (("direct SDK (2 streamed requests)", direct), ("through the engine", engine_ms),
                         ("through the engine, audit journal off", no_audit)):
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"{name:<40}{statistics.median(values):>12.2f}{p95:>10.2f}")
    print(f"\ndurable writes per round (median ms in the database thread; both engine paths, {2 * rounds} "
          "rounds)")
    total = 0.0
    for _, name, what in WRITES:
        per_call = statistics.median(writes[name])
        per_round = per_call * len(writes[name]) / (2 * rounds)
        total += per_round
        print(f"  {name:<22}{per_round:>7.2f}  {what}")
    print(f"  {'all writes':<22}{total:>7.2f}")
    print(f"\nthe audit trail's share: {e - n:.2f} ms per round")
    verdict = "ok" if e - d < TARGET_MS else "MISSED"
    print(f"engine adds {e - d:.2f} ms per round (ratio {e / d:.2f}x); target < {TARGET_MS} ms: {verdict}")


HISTORY_SIZES = (10, 100, 1000)
HISTORY_TARGET_MS = 2.0


def prior_messages(convo: Conversation, count: int) -> list[dict[str, Any]]:
    """Store ``count`` messages in ``convo``; return them as OpenAI Chat messages."""
    rows, wire = [], []
    for position in range(count):
        kind, n = position % 4, position // 4
        if kind == 0:
            rows.append(Message(conversation=convo, position=position, role="user",
                                content=f"question {n}: add"))
            wire.append({"role": "user", "content": f"question {n}: add"})
        elif kind == 1:
            calls = [{"id": f"call_h{n}", "name": "add", "arguments": '{"a":1,"b":2}'}]
            rows.append(Message(conversation=convo, position=position, role="assistant", tool_calls=calls))
            wire.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_h{n}", "type": "function",
                 "function": {"name": "add", "arguments": '{"a":1,"b":2}'}}]})
        elif kind == 2:
            results = [{"call_id": f"call_h{n}", "name": "add", "content": "3", "is_error": False}]
            rows.append(Message(conversation=convo, position=position, role="tool", tool_results=results))
            wire.append({"role": "tool", "tool_call_id": f"call_h{n}", "content": "3"})
        else:
            rows.append(Message(conversation=convo, position=position, role="assistant",
                                content=f"The answer to question {n} is three."))
            wire.append({"role": "assistant", "content": f"The answer to question {n} is three."})
    Message.objects.bulk_create(rows)
    return wire


async def history_cost(rounds: int) -> None:
    user = await get_user_model().objects.acreate(username="bench-history")
    registry = Registry()
    add_tool = registry.register(add)
    from tools.exports import to_openai

    tools = [to_openai(add_tool)]
    system = settings.ASSISTANT_SYSTEM_PROMPT
    with FakeLLMServer(default=text(ANSWER, chunks=6)) as server:
        settings.LLM_PROFILES = json.dumps({"bench": {
            "provider": "openai", "model": "gpt-bench", "base_url": server.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY"}})
        engine = Engine(pipeline=Pipeline(registry))
        client = AsyncOpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        convos, wires = {}, {}
        for size in HISTORY_SIZES:
            convos[size] = await Conversation.objects.acreate(owner=user, profile="bench")
            from asgiref.sync import sync_to_async

            wires[size] = await sync_to_async(prior_messages)(convos[size], size)

        async def direct(size: int) -> float:
            messages = [{"role": "system", "content": system}, *wires[size],
                        {"role": "user", "content": "hi"}]
            start = time.perf_counter()
            stream = await client.chat.completions.create(model="gpt-bench", messages=messages, tools=tools,
                                                          stream=True, stream_options={"include_usage": True})
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            assert "".join(parts) == ANSWER
            return (time.perf_counter() - start) * 1000

        async def through(size: int) -> float:
            start = time.perf_counter()
            run = await engine.send(convos[size], user, "hi")
            assert run.status == Run.Status.COMPLETED, (run.status, run.error)
            return (time.perf_counter() - start) * 1000

        warmup = 5
        results: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in HISTORY_SIZES}
        for i in range(rounds + warmup):
            for size in HISTORY_SIZES:
                d, e = await direct(size), await through(size)
                if i >= warmup:
                    results[size][0].append(d)
                    results[size][1].append(e)
        server.check()
    print(f"\nhistory length: a one-turn run in a conversation of N prior messages, {rounds} rounds each,"
          " interleaved")
    print(f"{'N':>6}{'direct ms':>12}{'engine ms':>12}{'added ms':>11}{'ratio':>8}")
    added = {}
    for size in HISTORY_SIZES:
        d, e = statistics.median(results[size][0]), statistics.median(results[size][1])
        added[size] = e - d
        print(f"{size:>6}{d:>12.2f}{e:>12.2f}{e - d:>11.2f}{e / d:>7.2f}x")
    # The history-dependent work of a run's start and request, timed alone (the end-to-end
    # figures above carry the loaded machine's noise): the history read and the request
    # body, the way the engine does them.
    from asgiref.sync import sync_to_async

    from assistant.providers.base import ChatRequest
    from assistant.providers.profiles import get_profile, provider_for
    from assistant.runs import history_cache

    provider = provider_for(get_profile("bench"))
    from assistant.runs.history import history_and_next_position

    print("history read + request body per run, ms (median of 50, interleaved):")
    print(f"{'N':>6}{'before (read all, convert all)':>32}{'now (cached, extended)':>25}{'ratio':>8}")
    work = {}
    for size in HISTORY_SIZES:
        def now(size: int = size) -> float:
            start = time.perf_counter()
            history, _ = history_cache.history_from(convos[size].pk)
            provider.payload(ChatRequest(model="gpt-bench", messages=history, system=system))
            return (time.perf_counter() - start) * 1000

        def before(size: int = size) -> float:
            start = time.perf_counter()
            history, _ = history_and_next_position(convos[size].pk)
            provider.payload(ChatRequest(model="gpt-bench", messages=history, system=system))
            return (time.perf_counter() - start) * 1000
        pairs = [(await sync_to_async(before)(), await sync_to_async(now)()) for _ in range(50)]
        old, work[size] = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        print(f"{size:>6}{old:>32.3f}{work[size]:>25.3f}{old / work[size]:>7.1f}x")
    growth = added[HISTORY_SIZES[-1]] - added[HISTORY_SIZES[0]]
    print(f"history-dependent work at {HISTORY_SIZES[-1]} vs {HISTORY_SIZES[0]} messages: "
          f"{work[HISTORY_SIZES[-1]] - work[HISTORY_SIZES[0]]:+.3f} ms")
    verdict = "ok" if growth < HISTORY_TARGET_MS else "MISSED"
    print(f"added cost at {HISTORY_SIZES[-1]} vs {HISTORY_SIZES[0]} messages: {growth:+.2f} ms; "
          f"target within {HISTORY_TARGET_MS} ms: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--history-rounds", type=int, default=30)
    call_command("migrate", verbosity=0)
    arguments = parser.parse_args()
    if arguments.rounds:
        asyncio.run(main(arguments.rounds))
    asyncio.run(history_cost(arguments.history_rounds))
