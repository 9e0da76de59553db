"""Chats against a model server that breaks 30% of its requests: how many still complete?

Each chat is one user message answered in two model turns (a tool call, then the answer)
through the engine, against the scripted fake server on loopback, half in the OpenAI wire
format and half in the Anthropic one. A *faulty* server replaces each request's answer,
with probability ``--fault-rate`` (30%), by one fault drawn evenly from this mix:

- HTTP 429 with ``retry-after-ms: 200``; HTTP 500; HTTP 503 (overloaded);
- the connection dropped before any response;
- the stream cut without its end (no finish reason / ``[DONE]`` / ``message_stop``) after
  the first text delta or tool-argument fragment;
- the connection dropped at the same point;
- an undecodable chunk at the same point;
- the stream falling silent at the same point for longer than the idle timeout.

Every fault strikes the first and the second turn alike (a fault on the second request is
one "between turns"). A *clean* server answers every request. Batches of chats alternate
between the two servers, so a machine that slows down meanwhile slows both. Printed: the
completion rate on each (target at least 99% on the faulty one), and the median and p95
time per chat on each, with the added latency the faults cost.

Settings as the engine ships them, except the idle timeout (``--idle``, 2 s instead of
30 s, so a stall costs seconds, not half a minute): ``LLM_MAX_RETRIES=4``, backoff 0.5 s
doubling to 8 s with jitter.

Standalone: ``python bench/chaos.py [--chats N] [--fault-rate 0.3] [--concurrency 25]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-chaos-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "chaos.sqlite3")
os.environ["LOG_LEVEL"] = "CRITICAL"
os.environ["BENCH_LLM_KEY"] = "sk-bench"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from assistant.models import Conversation, Run  # noqa: E402
from assistant.runs.engine import Engine  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, RecordedRequest  # noqa: E402
from tests.fakes.scripts import Step, call, error, text, tool_calls  # noqa: E402
from tools.pipeline import Pipeline  # noqa: E402
from tools.registry import Registry  # noqa: E402

TARGET = 0.99
ANSWER = "Two plus three is five, as the tool said."
FAULTS = ["429", "500", "503", "drop-before", "cut", "drop", "garbage", "stall"]


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def after_tool_result(request: RecordedRequest) -> bool:
    messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return True
    content = last.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def good(request: RecordedRequest, index: int) -> Step:
    if after_tool_result(request):
        return text(ANSWER, chunks=8)
    return tool_calls(call("add", {"a": 2, "b": 3}, id=f"call_{index}"), text="Let me add.", chunks=2)


class Faulty:
    """The default responder of the faulty server: a fault with probability ``rate``."""

    def __init__(self, rate: float, seed: int, stall: float) -> None:
        self.rate, self.random, self.stall = rate, random.Random(seed), stall
        self.counts: Counter[str] = Counter()
        self.requests = 0

    def __call__(self, request: RecordedRequest) -> Step:
        self.requests += 1
        step = good(request, self.requests)
        if self.random.random() >= self.rate:
            return step
        fault = self.random.choice(FAULTS)
        self.counts[fault] += 1
        point = "text" if after_tool_result(request) else "arguments"
        if fault == "429":
            return error(429, retry_after_ms=200)
        if fault in ("500", "503"):
            return error(int(fault))
        if fault == "drop-before":
            return step.fault("drop", "start")
        return step.fault(fault, point, stall=self.stall)  # type: ignore[arg-type]


async def chat(engine: Engine, user: Any, profile: str) -> tuple[bool, float, str]:
    convo = await Conversation.objects.acreate(owner=user, profile=profile)
    start = time.perf_counter()
    run = await engine.send(convo, user, "add 2 and 3")
    elapsed = time.perf_counter() - start
    ok = run.status == Run.Status.COMPLETED and run.steps == 2
    return ok, elapsed, run.error_code


async def main(chats: int, rate: float, concurrency: int, idle: float, seed: int) -> None:
    user = await get_user_model().objects.acreate(username="chaos")
    registry = Registry()
    registry.register(add)
    faulty = Faulty(rate, seed, stall=idle * 4)
    settings.LLM_IDLE_TIMEOUT = idle
    results: dict[str, list[tuple[bool, float, str]]] = {"clean": [], "faulty": []}
    with FakeLLMServer(default=lambda r: good(r, 0)) as clean, FakeLLMServer(default=faulty) as broken:
        profiles = {}
        for name, server in (("clean", clean), ("faulty", broken)):
            profiles[f"{name}-openai"] = {"provider": "openai", "model": "gpt-chaos",
                                          "base_url": server.openai_base_url, "api_key_env": "BENCH_LLM_KEY"}
            profiles[f"{name}-anthropic"] = {"provider": "anthropic", "model": "claude-chaos",
                                             "base_url": server.anthropic_base_url,
                                             "api_key_env": "BENCH_LLM_KEY"}
        settings.LLM_PROFILES = json.dumps(profiles)
        engine = Engine(pipeline=Pipeline(registry))
        # warm-up, not counted: clients, connections, the database
        await asyncio.gather(*(chat(engine, user, f"clean-{api}") for api in ("openai", "anthropic") * 3))
        started = time.perf_counter()
        for offset in range(0, chats, concurrency):
            size = min(concurrency, chats - offset)
            for kind in ("clean", "faulty") if offset % (2 * concurrency) == 0 else ("faulty", "clean"):
                batch = [chat(engine, user, f"{kind}-{'openai' if (offset + i) % 2 else 'anthropic'}")
                         for i in range(size)]
                results[kind] += await asyncio.gather(*batch)
        total = time.perf_counter() - started
        clean.check()
        broken.check()
    print(f"chaos: {chats} chats per server (2 model turns each, half OpenAI, half Anthropic wire format), "
          f"{concurrency} at a time, batches alternating; {total:.1f} s in all")
    print(f"fault rate {rate:.0%} per request on the faulty server; faults injected: "
          + ", ".join(f"{k} {v}" for k, v in sorted(faulty.counts.items())))
    print(f"  ({faulty.requests} requests to the faulty server; idle timeout {idle:g} s, stalls "
          f"{idle * 4:g} s; retries {settings.LLM_MAX_RETRIES}, backoff {settings.LLM_RETRY_BASE_DELAY:g} s "
          f"doubling to {settings.LLM_RETRY_MAX_DELAY:g} s)")
    print(f"{'server':<10}{'completed':>12}{'rate':>9}{'median s':>11}{'p95 s':>9}")
    medians = {}
    for kind in ("clean", "faulty"):
        done = [r for r in results[kind] if r[0]]
        times = [r[1] for r in results[kind]]
        medians[kind] = (statistics.median(times), statistics.quantiles(times, n=20)[18])
        print(f"{kind:<10}{len(done):>7}/{len(results[kind]):<4}{len(done) / len(results[kind]):>9.1%}"
              f"{medians[kind][0]:>11.3f}{medians[kind][1]:>9.3f}")
    failures = Counter(r[2] for r in results["faulty"] if not r[0])
    if failures:
        print("  failed runs by error code: " + ", ".join(f"{k} {v}" for k, v in failures.items()))
    rate_done = sum(r[0] for r in results["faulty"]) / len(results["faulty"])
    added = medians["faulty"][0] - medians["clean"][0]
    added_p95 = medians["faulty"][1] - medians["clean"][1]
    ratio = medians["faulty"][0] / medians["clean"][0]
    print(f"added latency from faults: median {added:+.3f} s ({ratio:.2f}x), p95 {added_p95:+.3f} s")
    verdict = "ok" if rate_done >= TARGET else "MISSED"
    print(f"completion under faults {rate_done:.1%}; target >= {TARGET:.0%}: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--idle", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=13)
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    asyncio.run(main(arguments.chats, arguments.fault_rate, arguments.concurrency, arguments.idle,
                     arguments.seed))
