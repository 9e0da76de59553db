"""What the tool pipeline costs per call, over the tool itself.

Runs N calls (default 10,000) of a no-op tool through ``Pipeline.call`` — parse, validate,
permission, gate, execute, serialise, redact, truncate, and optionally the ToolCall row —
and prints the median per-call time next to the bare function call. Targets: a median
under 100 µs without the record and under 2 ms with it.

Standalone: ``python bench/tool_overhead.py [--calls N] [--profile SCENARIO]``. It uses
its own temporary on-disk SQLite database (migrated here) and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "bench.sqlite3")
os.environ["LOG_LEVEL"] = "ERROR"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from tools import ToolContext, tool  # noqa: E402
from tools.gate import GateDecision, PreparedCall  # noqa: E402
from tools.pipeline import Pipeline, ToolCallRequest  # noqa: E402
from tools.registry import Registry  # noqa: E402

TARGET_NO_RECORD_US = 100.0
TARGET_RECORD_US = 2000.0
ARGUMENTS = '{"x": 1}'


@tool
def noop_sync(x: int) -> int:
    """Return x (a synchronous no-op)."""
    return x


@tool
async def noop_async(x: int) -> int:
    """Return x (an asynchronous no-op)."""
    return x


async def async_allow_all(call: PreparedCall) -> GateDecision:
    """Reference only: what the default gate would cost if it were ``async def``."""
    return GateDecision.allow(rule="default")


@dataclass
class Scenario:
    tool: str
    record: bool
    gate: str  # "none", "default" (settings.TOOLS_GATE) or "async" (async_allow_all)

    @property
    def label(self) -> str:
        gate = {"none": "None", "default": "default", "async": "async allow (ref.)"}[self.gate]
        return f"{self.tool}, record={self.record}, gate={gate}"

    @property
    def key(self) -> str:
        return f"{self.tool}:{'record' if self.record else 'norecord'}:{self.gate}"


SCENARIOS = [
    Scenario(name, record, gate)
    for record in (False, True) for name in ("noop_sync", "noop_async") for gate in ("none", "default")
] + [Scenario(name, False, "async") for name in ("noop_sync", "noop_async")]


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def _p95_us(samples: list[int]) -> float:
    return sorted(samples)[int(len(samples) * 0.95)] / 1000


def bare_call(n: int) -> list[int]:
    fn = noop_sync.fn
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn(x=1)
        samples.append(time.perf_counter_ns() - start)
    return samples


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> list[int]:
    for _ in range(min(200, n)):  # warm up: thread pools, connections, caches
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        result = await call()
        samples.append(time.perf_counter_ns() - start)
        if not result.ok:
            raise SystemExit(f"the benchmark call failed: {result.error}")
    return samples


async def run_scenario(scenario: Scenario, user: Any, n: int) -> list[int]:
    registry = Registry()
    registry.register(noop_sync)
    registry.register(noop_async)
    options: dict[str, Any] = {"record": scenario.record}
    if scenario.gate == "none":
        options["gate"] = None
    elif scenario.gate == "async":
        options["gate"] = async_allow_all
    pipeline = Pipeline(registry, **options)
    context = ToolContext(user=user)
    request = ToolCallRequest(scenario.tool, ARGUMENTS, call_id="call_bench")
    return await timed(lambda: pipeline.call(request, context), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls per scenario (default 10000)")
    parser.add_argument("--profile", metavar="SCENARIO",
                        help="profile one scenario with cProfile, e.g. noop_async:norecord:none")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench")

    if args.profile:
        scenario = next((s for s in SCENARIOS if s.key == args.profile), None)
        if scenario is None:
            raise SystemExit(f"unknown scenario; choose one of: {', '.join(s.key for s in SCENARIOS)}")
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(run_scenario(scenario, user, args.calls))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return

    bare = _median_us(bare_call(args.calls))
    print(f"Tool pipeline overhead: {args.calls:,} calls per row, arguments {ARGUMENTS}, "
          f"Python {sys.version.split()[0]}, SQLite on disk")
    print(f"default gate = settings.TOOLS_GATE = {settings.TOOLS_GATE!r}\n")
    header = f"{'scenario':<52} {'median µs':>10} {'p95 µs':>10} {'x bare':>9} {'target':>10}  verdict"
    print(header)
    print("-" * len(header))
    print(f"{'bare function call noop_sync.fn(x=1)':<52} {bare:>10.2f} {'':>10} {1:>9.0f} {'':>10}")
    missed = []
    for scenario in SCENARIOS:
        samples = asyncio.run(run_scenario(scenario, user, args.calls))
        median, p95 = _median_us(samples), _p95_us(samples)
        target = TARGET_RECORD_US if scenario.record else TARGET_NO_RECORD_US
        verdict = "ok" if median < target else "MISSED"
        if verdict != "ok":
            missed.append(scenario.label)
        print(f"{scenario.label:<52} {median:>10.1f} {p95:>10.1f} {median / bare:>9.0f} "
              f"{'< ' + format(target, 'g'):>10}  {verdict}")
    print()
    print("Targets apply to the median. Sync tools pay a thread hop (they run on a worker thread so")
    print("a slow one cannot block the event loop); a sync gate pays another (it may query the")
    print("database). 'async allow (ref.)' is an async gate doing what the default gate does now.")
    if missed:
        print(f"targets missed: {'; '.join(missed)}")


if __name__ == "__main__":
    try:
        main()
    finally:
        _TMP.cleanup()
