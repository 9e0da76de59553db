"""What the audit trail costs: per recorded tool call, per append, and to verify.

Three measurements on an on-disk SQLite database (WAL, IMMEDIATE transactions — the
embedded default), or on a scratch PostgreSQL database named by ``BENCH_DATABASE_URL``
(never ``DATABASE_URL``: the benchmark writes thousands of rows), each a median over N runs:

* a recorded call of a no-op tool through ``Pipeline.call``, with ``TOOLS_JOURNAL`` off and
  on (``approvals.hooks.observe``: five chained events in two appends); the difference is
  what the audit trail adds to every call;
* ``audit.record`` alone: one event per transaction, five per transaction, and one per
  transaction from four threads at once (appends are serialised, so this shows contention);
* ``audit.verify`` over everything appended: events checked per second.

Standalone: ``python bench/audit.py [--calls N]``. It migrates the database it uses; the
temporary SQLite database is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-audit-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "bench.sqlite3")
os.environ["LOG_LEVEL"] = "ERROR"
os.environ.pop("DATABASE_URL", None)
if os.environ.get("BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from approvals import audit  # noqa: E402
from approvals.audit import Entry  # noqa: E402
from approvals.models import AuditEvent  # noqa: E402
from tools import ToolContext, tool  # noqa: E402
from tools.gate import clear_caches  # noqa: E402
from tools.pipeline import Pipeline, ToolCallRequest  # noqa: E402
from tools.registry import Registry  # noqa: E402

JOURNAL = "approvals.hooks.observe"
SCOPE = {"conversation": "5b0c6f0e-2f6a-4a54-9a55-0d7f1d3b9a11",
         "run": "4a1d0c8e-0000-4000-8000-000000000000"}


@tool
async def noop(x: int) -> dict:
    """Return x (an asynchronous no-op)."""
    return {"x": x}


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def p95_us(samples: list[int]) -> float:
    return sorted(samples)[int(len(samples) * 0.95)] / 1000


async def timed_calls(user: Any, n: int, rounds: int = 5) -> dict[str | None, list[int]]:
    """Per-call times with the journal off and on, in alternating rounds, so that drift
    (a growing database, a busy machine) weighs on both alike."""
    registry = Registry()
    registry.register(noop)
    pipeline = Pipeline(registry, gate=None)
    context = ToolContext(user=user, scope=SCOPE)
    request = ToolCallRequest("noop", '{"x": 1}', call_id="call_bench")
    samples: dict[str | None, list[int]] = {None: [], JOURNAL: []}
    for _ in range(rounds):
        for journal, times in samples.items():
            settings.TOOLS_JOURNAL = journal
            clear_caches()
            for _ in range(min(50, n)):
                await pipeline.call(request, context)
            for _ in range(max(1, n // rounds)):
                start = time.perf_counter_ns()
                result = await pipeline.call(request, context)
                times.append(time.perf_counter_ns() - start)
                if not result.ok:
                    raise SystemExit(f"the benchmark call failed: {result.error}")
    return samples


def entry(i: int) -> Entry:
    return Entry("call.succeeded", tool_call_id=i, tool_name="noop", user_id=1, username="bench",
                 conversation_id=SCOPE["conversation"], outcome="succeeded",
                 data={"duration_ms": 0.1, "attempts": 1, "cached": False, "result_sha256": "ab" * 32})


def timed_appends(n: int, per_transaction: int) -> list[int]:
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        audit.record(*(entry(i) for _ in range(per_transaction)))
        samples.append(time.perf_counter_ns() - start)
    return samples


def threaded_appends(threads: int, each: int) -> float:
    """Appends per second with ``threads`` threads appending one event per transaction."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for i in range(each):
            audit.record(entry(i))
        connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * each / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="runs per measurement (default 3000)")
    args = parser.parse_args()
    n = args.calls

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    database = "SQLite on disk (WAL)" if connection.vendor == "sqlite" else connection.vendor
    print(f"Audit trail cost: {n:,} runs per row, Python {sys.version.split()[0]}, {database}\n")

    calls = asyncio.run(timed_calls(user, n))
    off, on = calls[None], calls[JOURNAL]
    header = f"{'recorded call of a no-op tool (gate=None)':<52} {'median µs':>10} {'p95 µs':>10}"
    print(header)
    print("-" * len(header))
    for label, samples in (("TOOLS_JOURNAL off (ToolCall row only)", off),
                           ("TOOLS_JOURNAL on (+5 chained events, 2 appends)", on)):
        print(f"{label:<52} {median_us(samples):>10.1f} {p95_us(samples):>10.1f}")
    print(f"{'=> the audit trail adds per call':<52} {median_us(on) - median_us(off):>10.1f}\n")

    with transaction.atomic():
        pass  # make sure the connection is open before timing
    single = timed_appends(n, 1)
    batch = timed_appends(n, 5)
    print(f"{'audit.record()':<52} {'median µs':>10} {'appends/s':>10}")
    print("-" * len(header))
    print(f"{'1 event per transaction':<52} {median_us(single):>10.1f} {1e6 / median_us(single):>10,.0f}")
    print(f"{'5 events per transaction':<52} {median_us(batch):>10.1f} {5e6 / median_us(batch):>10,.0f}")
    rate = threaded_appends(4, max(1, n // 4))
    print(f"{'1 event per transaction, 4 threads at once':<52} {'':>10} {rate:>10,.0f}\n")

    total = AuditEvent.objects.count()
    start = time.perf_counter()
    verdict = audit.verify()
    elapsed = time.perf_counter() - start
    if not verdict.ok:
        raise SystemExit(f"the chain is broken: {verdict.message}")
    print(f"audit.verify(): {total:,} events in {elapsed:.2f} s = {total / elapsed:,.0f} events/s")


if __name__ == "__main__":
    try:
        main()
    finally:
        _TMP.cleanup()
