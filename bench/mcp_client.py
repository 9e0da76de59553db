"""What MCP costs Toolgate, each figure beside a baseline measured in the same run.

1. **Discovery of a server with 1,000 tools** (the toy server, 100 tools a page): Toolgate's
   discovery (every page, each tool built from its raw definition with its schema checked,
   the registry swapped) against the raw SDK walking the same pages over its own session
   to the same server. Warm (sessions already open, as after ``notifications/tools/
   list_changed``: the list unchanged, so each tool is compared and reused, and every tool
   changed, so each is built again) and cold (process start, handshake, discovery), interleaved.
2. **Overhead of one MCP call through the pipeline** (validation, access, gate, audit
   record, the manager's loop hand-over, result conversion) against a direct SDK call to
   the same tool of the same server, interleaved (one call of each path per round, in an order
   that rotates; the overhead is the median of each round's difference from its own direct
   call, so a burst of load elsewhere falls on both sides of a difference). Target: under
   2 ms. Printed as
   wall clock and as this process's CPU time (every thread): on a machine shared with other
   work the wall clock also counts the waits for a core at each thread hand-over, which the
   CPU time does not. Then where the full path's time goes, measured on the same calls
   (opening the record, running the tool, closing the record), and the SQL statements and
   thread hand-overs of one recorded call.

Standalone: ``python bench/mcp_client.py [--calls N] [--rounds N]``; temporary database and
working directories, deleted afterwards. (Not ``bench/mcp.py``: a script's directory comes
first on ``sys.path``, so a ``bench/mcp.py`` would shadow the SDK for every benchmark.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-mcp-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "bench.sqlite3")
os.environ["LOG_LEVEL"] = "ERROR"

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from tests.fakes.mcp_servers import TOY  # noqa: E402
from tools import pipeline as pipeline_module  # noqa: E402
from tools import records, tool  # noqa: E402
from tools.context import ToolContext  # noqa: E402
from tools.mcp.connection import list_all_tools  # noqa: E402
from tools.mcp.manager import Manager, Tuning  # noqa: E402
from tools.mcp.spec import ServerSpec  # noqa: E402
from tools.pipeline import Pipeline, ToolCallRequest  # noqa: E402
from tools.registry import Registry  # noqa: E402

TARGET_OVERHEAD_MS = 2.0


@tool
async def noop(text: str) -> str:
    """Return the text (a local tool: the reference for what recording a call costs)."""
    return text

TUNING = Tuning(connect_timeout=60, ping_interval=3600)
BIG = ("--only-extra", "--extra-tools", "1000", "--page-size", "100")


def spec(name: str, *args: str) -> ServerSpec:
    return ServerSpec(name=name, transport="stdio", command=sys.executable, args=(TOY, *args))


def raw_params(*args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[TOY, *args], cwd=_TMP.name)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


async def discovery(rounds: int) -> None:
    print("Discovery of a server with 1,000 tools (10 pages of 100)")
    manager = Manager(Registry(), tuning=TUNING)
    warm_ours, warm_raw, cold_ours, cold_raw, rebuilt = [], [], [], [], []
    try:
        async with Client(raw_params(*BIG), mode="legacy", cache=None) as raw:
            await manager.configure([spec("big", *BIG)])
            await manager.settled(120)
            connection = manager.connections["big"]
            assert connection.status.tool_count == 1000, connection.status
            for _ in range(rounds):  # warm: both sessions open, interleaved
                start = time.perf_counter()
                tools = await list_all_tools(raw, 60)
                warm_raw.append(time.perf_counter() - start)
                assert len(tools) == 1000
                start = time.perf_counter()
                await manager.run(connection._discover(connection.client))
                warm_ours.append(time.perf_counter() - start)
                assert len(manager.registry) == 1000
                connection.built = {}  # as if every tool had changed: each one built again
                start = time.perf_counter()
                await manager.run(connection._discover(connection.client))
                rebuilt.append(time.perf_counter() - start)
                assert len(manager.registry) == 1000
        await asyncio.to_thread(manager.close)
        for i in range(max(1, rounds // 3)):  # cold: spawn, handshake, discover
            start = time.perf_counter()
            async with Client(raw_params(*BIG), mode="legacy", cache=None) as raw:
                assert len(await list_all_tools(raw, 60)) == 1000
            cold_raw.append(time.perf_counter() - start)
            cold = Manager(Registry(), tuning=TUNING)
            start = time.perf_counter()
            await cold.configure([spec(f"cold{i}", *BIG)])
            await cold.settled(120)
            cold_ours.append(time.perf_counter() - start)
            assert len(cold.registry) == 1000
            await asyncio.to_thread(cold.close)
    finally:
        await asyncio.to_thread(manager.close)
    for label, ours, raw, what in (
            ("warm, list unchanged", warm_ours, warm_raw, "comparing, reusing and registering 1,000 tools"),
            ("warm, all changed", rebuilt, warm_raw, "building and registering 1,000 tools"),
            ("cold (start-up)", cold_ours, cold_raw, "building and registering 1,000 tools")):
        o, r = statistics.median(ours), statistics.median(raw)
        print(f"  {label:20} Toolgate {ms(o)}   raw SDK pagination {ms(r)}   ratio {o / r:5.2f}x"
              f"   ({(o - r) * 1000:+.1f} ms: {what}; {len(ours)} rounds)")


async def call_overhead(calls: int, block: int) -> None:
    print(f"\nOne MCP call (toy 'echo' over stdio), {calls} calls each way, interleaved in blocks of {block}"
          " (the order of the paths rotates each round)")
    user, _ = await get_user_model().objects.aget_or_create(username="bench")  # a database kept between runs
    manager = Manager(Registry(), tuning=TUNING)
    await manager.configure([spec("toy")])
    await manager.settled(60)
    full = Pipeline(manager.registry)  # default gate and access policy, ToolCall record + audit
    manager.registry.register(noop)

    bare = Pipeline(manager.registry, record=False, gate=None, access=None)
    paths: dict[str, Any] = {"direct": None, "bare": bare, "full": full, "local": full}  # local: noop
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    stages = Stages()
    n = 0
    try:
        async with Client(raw_params(), mode="legacy", cache=None) as raw:
            async def one(path: str) -> None:
                nonlocal n
                n += 1
                if path == "direct":
                    await raw.call_tool("echo", {"text": "hi"})
                    return
                name = "noop" if path == "local" else "toy__echo"
                result = await paths[path].call(ToolCallRequest(name, '{"text": "hi"}', f"c{n}"),
                                                ToolContext(user=user))
                assert result.ok, result.error

            for path in paths:  # warm up every path
                for _ in range(20):
                    await one(path)
            statements = await count_statements(lambda: one("full"))
            statements_local = await count_statements(lambda: one("local"))
            order = list(paths)
            while len(wall["direct"]) < calls:
                order = order[1:] + order[:1]
                for path in order:
                    stages.active = path == "full"
                    for _ in range(block):
                        started, cpu_started = time.perf_counter(), time.process_time()
                        await one(path)
                        wall[path].append(time.perf_counter() - started)
                        cpu[path].append(time.process_time() - cpu_started)
                    stages.active = False
    finally:
        stages.remove()
        await asyncio.to_thread(manager.close)
    for clock, values in (("wall clock", wall), ("CPU time of this process (every thread)", cpu)):
        d = statistics.median(values["direct"])
        print(f"  [{clock}]")
        print(f"  {'direct SDK call':41} median {ms(d)}")
        for label, path in (("pipeline, no record/gate/policy", "bare"),
                            ("pipeline, full (gate, record, audit)", "full")):
            m = statistics.median(values[path])
            # Paired: each call against the direct call of the same round (same position).
            added = [v - direct for v, direct in zip(values[path], values["direct"], strict=True)]
            lo, _, hi = statistics.quantiles(added, n=4)
            mid = statistics.median(added)
            verdict = "meets" if mid * 1000 < TARGET_OVERHEAD_MS else "MISSES"
            print(f"  {label:41} median {ms(m)}   ratio {m / d:5.2f}x   added {mid * 1000:6.3f} ms"
                  f" [p25 {lo * 1000:.3f} .. p75 {hi * 1000:.3f}]"
                  f"   ({verdict} the {TARGET_OVERHEAD_MS:g} ms target)")
        local = statistics.median(values["local"])
        print(f"  reference: the full pipeline with a local no-op tool: median {ms(local)} (validation, gate,"
              f" record and audit without MCP);\n  MCP-specific part of the full path: "
              f"{(statistics.median(values['full']) - local - d) * 1000:.3f} ms")
    print("  [where the full path's time goes: medians over the same calls, wall clock / CPU]")
    for label, key in (("opening the record (hop, INSERT, 4 audit events, commit)", "open"),
                       ("running the tool (hop to the sessions' loop, SDK call, conversion)", "tool"),
                       ("closing the record (hop, UPDATE, 1 audit event, commit)", "finish")):
        spans = stages.spans[key]
        print(f"  {label:68} {ms(statistics.median(w for w, _ in spans))} / "
              f"{ms(statistics.median(c for _, c in spans))}")
    print(f"  SQL statements of one recorded MCP call: {len(statements)}, and a COMMIT ending each of its two"
          f" transactions (the local no-op tool: {len(statements_local)});\n  thread hand-overs: 6 (caller ->"
          " database thread -> caller -> sessions' loop -> caller -> database thread -> caller),"
          " 2 without the record")
    for sql in statements:
        print(f"    {sql}")


class Stages:
    """Times the full path's stages (``records.open_record``, the tool, the closing write)
    on the calls being measured, by wrapping the functions the pipeline looks up at call time."""

    def __init__(self) -> None:
        self.active = False
        self.spans: dict[str, list[tuple[float, float]]] = {"open": [], "tool": [], "finish": []}
        self._saved = [(records, "open_record", "open"), (pipeline_module, "invoke_with_retries", "tool"),
                       (pipeline_module, "_finish", "finish")]
        self._originals = [getattr(module, name) for module, name, _ in self._saved]
        for (module, name, key), original in zip(self._saved, self._originals, strict=True):
            setattr(module, name, self._timed(original, key))

    def _timed(self, original: Any, key: str) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return await original(*args, **kwargs)
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                self.spans[key].append((time.perf_counter() - started, time.process_time() - cpu_started))
        return timed

    def remove(self) -> None:
        for (module, name, _), original in zip(self._saved, self._originals, strict=True):
            setattr(module, name, original)


async def count_statements(call: Any) -> list[str]:
    """The SQL statements one call sends (run on the database thread, where the ORM runs)."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(" ".join(sql.split())[:100])
        return execute(sql, params, many, context)

    await sync_to_async(lambda: db.execute_wrappers.append(wrapper))()  # that thread's connection
    try:
        await call()
    finally:
        await sync_to_async(lambda: db.execute_wrappers.remove(wrapper))()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--block", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-discovery", action="store_true", help="only the per-call figures")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if not args.no_discovery:
        asyncio.run(discovery(args.rounds))
    asyncio.run(call_overhead(args.calls, args.block))
    _TMP.cleanup()


if __name__ == "__main__":
    main()
