"""Catalogs of many tools: registration, the engine's cost per round, and tool selection.

1. Registering raw definitions (the public corpus in tests/tools/corpus, 1,482 definitions,
   then 5,000 made from it under new names) through ``Registry.register_definition``, against
   the pre-jsonschema_rs path as the baseline (``jsonschema`` metaschema check and validator per
   definition, as tools/validation.py did), interleaved.
2. The engine's added cost per two-turn tool round (as bench/engine.py measures it: the same
   rounds through the real OpenAI SDK directly, sending the tools the engine offers) with 12,
   100 and 1,000 registered tools, interleaved in rotating order, many rounds; medians and
   quartiles of the per-round differences. Target: 1,000 within 2 ms of 12.
3. Tool-selection recall@k: for each of the corpus's 100 labelled BFCL questions, is the
   tool that answers it among the k the ranking offers, in the whole corpus catalog?

Standalone: ``python bench/catalog.py [--rounds N]``; uses its own temporary database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine as engine_bench
import jsonschema
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from openai import AsyncOpenAI

from assistant.catalog.offer import offer
from assistant.models import Conversation, Message, Run
from assistant.runs.engine import Engine
from assistant.runs.history import to_chat_message
from tests.fakes.llm_server import FakeLLMServer
from tests.tools.corpus_helpers import definitions, queries
from tools.catalog import acatalog
from tools.errors import ToolDefinitionError
from tools.exports import to_openai
from tools.pipeline import Pipeline
from tools.registry import Registry
from tools.selection import Index, search_tool


def _noop(**kwargs):
    return kwargs


def _old_register(definition: dict) -> None:
    """The registration cost before: metaschema check + validator + one evolve per property."""
    body = definition.get("function", definition)
    schema = body.get("parameters", body.get("input_schema"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        if name not in required:
            validator.evolve(schema=sub).is_valid(None)


def _registers(definition: dict) -> bool:
    try:
        Registry().register_definition(definition, _noop)
    except ToolDefinitionError:
        return False
    return True


def _renamed(defs: list[dict], count: int) -> list[dict]:
    out = []
    for i in range(count):
        definition = copy.deepcopy(defs[i % len(defs)])
        body = definition.get("function", definition)
        body["name"] = f"{body['name'][:50]}_{i}"
        out.append(definition)
    return out


def registration() -> list[dict]:
    defs = [d for _, d in definitions()]
    usable = [d for d in defs if _registers(d)]
    new_times, old_times = [], []
    for _ in range(3):
        start = time.perf_counter()
        registry = Registry()
        for d in usable:
            registry.register_definition(d, _noop)
        new_times.append((time.perf_counter() - start) / len(usable) * 1000)
        start = time.perf_counter()
        for d in usable:
            _old_register(d)
        old_times.append((time.perf_counter() - start) / len(usable) * 1000)
    new, old = min(new_times), min(old_times)
    print(f"1. registering raw definitions ({len(usable)} public definitions, best of 3, interleaved)")
    print(f"   per definition: {new * 1000:.0f} µs now, {old * 1000:.0f} µs before (jsonschema), "
          f"ratio {old / new:.1f}x")
    many = _renamed(usable, 5000)
    news = []
    for attempt in range(3):  # the old path once, between the first and second new runs
        start = time.perf_counter()
        registry = Registry()
        for d in many:
            registry.register_definition(d, _noop)
        news.append(time.perf_counter() - start)
        if attempt == 0:
            start = time.perf_counter()
            for d in many:
                _old_register(d)
            total_old = time.perf_counter() - start
    total_new = min(news)
    verdict = "ok" if total_new < 1.0 else "MISSED"
    print(f"   5,000 definitions: {total_new:.2f} s now (best of 3: {', '.join(f'{n:.2f}' for n in news)}), "
          f"{total_old:.2f} s before, ratio {total_old / total_new:.1f}x; target < 1 s: {verdict}")
    return usable


async def engine_cost(usable: list[dict], rounds: int) -> None:
    user = await get_user_model().objects.acreate(username="bench-catalog")
    registries = {}
    for size in (12, 100, 1000):  # add, search_tools and size - 2 public definitions
        registry = Registry()
        registry.register(engine_bench.add)
        registry.register(search_tool(registry))
        others = [d for d in usable if d.get("function", d)["name"] not in ("add", "search_tools")]
        for d in others[:size - 2]:
            registry.register_definition(d, _noop)
        registries[size] = registry
    with FakeLLMServer() as server:
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_PROFILES = engine_bench.json.dumps({"bench": {
            "provider": "openai", "model": "gpt-bench", "base_url": server.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY"}})
        client = AsyncOpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        engines = {size: Engine(pipeline=Pipeline(reg)) for size, reg in registries.items()}
        offered = {}
        for size, reg in registries.items():  # what the engine sends on the first turn
            msg = Message(role=Message.Role.USER, content="add 2 and 3")
            first_turn = offer(await acatalog(user, reg), [to_chat_message(msg)])
            offered[size] = [to_openai(t) for t in first_turn.tools]
        # per size: (direct, engine) rounds, each as wall-clock ms and as this process's CPU ms
        results: dict[str, dict[int, tuple[list[float], list[float]]]] = {
            clock: {size: ([], []) for size in registries} for clock in ("cpu", "wall")}
        sizes = list(registries)
        warmup = 10
        for i in range(rounds + warmup):
            # Interleaved, and the order of the sizes rotated every round, so that neither a
            # drift in the machine's load nor a size's place in the round favours one size.
            order = sizes[i % len(sizes):] + sizes[:i % len(sizes)]
            for size in order:
                engine_bench.script(server, i)
                wall, cpu = time.perf_counter(), time.process_time()
                await engine_bench.direct_round(client, offered[size], settings.ASSISTANT_SYSTEM_PROMPT)
                direct = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                convo = await Conversation.objects.acreate(owner=user, profile="bench")
                engine_bench.script(server, i)
                wall, cpu = time.perf_counter(), time.process_time()
                run = await engines[size].send(convo, user, "add 2 and 3")
                through = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                assert run.status == Run.Status.COMPLETED, (run.status, run.error)
                if i >= warmup:
                    for n, clock in enumerate(("wall", "cpu")):
                        results[clock][size][0].append(direct[n])
                        results[clock][size][1].append(through[n])
    print(f"\n2. engine cost per two-turn tool round ({rounds} rounds per size, the sizes interleaved in "
          "rotating order; fake OpenAI server, SQLite)")
    print("   added = engine round - direct SDK round (same tools, same script) in the same round;")
    print("   median [p25 .. p75] over the rounds. CPU = this process's CPU time, every thread (the fake")
    print("   server's too, the same for both): what the engine costs, whatever else the machine runs;")
    print("   wall = elapsed time, which also counts waiting for a core on a loaded machine.")
    for clock in ("cpu", "wall"):
        _engine_table(clock, results[clock], offered)


def _engine_table(clock: str, results: dict[int, tuple[list[float], list[float]]],
                  offered: dict[int, list[dict]]) -> None:
    print(f"   [{clock}]{'tools':>6}{'offered':>9}{'direct ms':>11}{'engine ms':>11}{'added ms':>10}"
          "   spread of added")
    added: dict[int, list[float]] = {}
    for size, (direct, through) in results.items():
        added[size] = [b - a for a, b in zip(direct, through, strict=True)]
        d, e, a = statistics.median(direct), statistics.median(through), statistics.median(added[size])
        lo, hi = _quartiles(added[size])
        print(f"   {'':6}{size:>5}{len(offered[size]):>9}{d:>11.2f}{e:>11.2f}{a:>10.2f}"
              f"   [{lo:.2f} .. {hi:.2f}]   ratio engine/direct {e / d:.2f}x")
    for big in (100, 1000):
        gaps = [b - a for a, b in zip(added[12], added[big], strict=True)]  # paired by round
        gap = statistics.median(gaps)
        lo, hi = _quartiles(gaps)
        verdict = f"; target within 2 ms: {'ok' if gap < 2 else 'MISSED'}" if big == 1000 else ""
        print(f"   {'':6}{big:,} tools add {gap:+.2f} ms over 12 [p25 {lo:+.2f} .. p75 {hi:+.2f}], "
              f"the median of per-round differences{verdict}")


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def recall() -> None:
    registry = Registry()
    for _, d in definitions():
        with contextlib.suppress(ToolDefinitionError):  # the few the corpus test shows refused
            registry.register_definition(d, _noop)
    index = Index(list(registry))
    labelled = queries()
    ks = (1, 3, 5, 10, 16, 25)
    hits = dict.fromkeys(ks, 0)
    start = time.perf_counter()
    for q in labelled:
        names = [t.name for t in index.search(q["query"], max(ks))]
        for k in ks:
            hits[k] += q["tool"] in names[:k]
    per_query = (time.perf_counter() - start) / len(labelled) * 1000
    print(f"\n3. tool-selection recall@k: {len(labelled)} labelled BFCL questions, a catalog of "
          f"{len(registry)} tools (BM25 over names, descriptions, parameter names)")
    print("   " + "  ".join(f"@{k}: {hits[k] / len(labelled):.2f}" for k in ks))
    print(f"   {per_query:.2f} ms per query; the default TOOLS_SELECTION_K is {settings.TOOLS_SELECTION_K}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--parts", default="1,2,3", help="which figures to measure, e.g. 2 (default: 1,2,3)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    call_command("migrate", verbosity=0)
    usable = registration() if "1" in parts else [d for _, d in definitions() if _registers(d)]
    if "2" in parts:
        asyncio.run(engine_cost(usable, args.rounds))
    if "3" in parts:
        recall()
