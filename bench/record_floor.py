"""What the two durable writes of one recorded tool call cost, beside their floor: the same
statements sent through ``sqlite3`` directly.

Every call through the full pipeline writes twice (``tools/records.py``): before it runs, the
ToolCall INSERT with its opening audit events (``call.proposed``, ``call.validated``,
``policy.decided``, ``call.started``), and after it, the UPDATE with ``call.succeeded``; each
write is a transaction of its own, committed (docs/audit.md). Measured in one process, the
three ways interleaved in rounds, as CPU time per call (both writes, no thread hand-over):

* **Toolgate**: ``tools.records`` with ``TOOLS_JOURNAL`` as configured (the hash-chained
  audit trail, then the metrics);
* **Toolgate, journal off**: the ToolCall row alone;
* **floor**: the rows Toolgate stored for one call, read back and written again through a
  plain ``sqlite3`` connection to the same database with the same statements (lock the
  chain's head, insert, move the head) — no ORM, no value preparation, no hashing (the
  hashes are copied). What any Python implementation of these two writes pays on SQLite;
* **floor, ToolCall row only**: the same without the audit rows, the floor of the second line.

The figure that matters for issue 11 (an MCP call through the pipeline within 2 ms of a
direct SDK call; ``bench/mcp_client.py``) is how much of Toolgate's cost is above the floor.

Standalone: ``python bench/record_floor.py [--calls N] [--rounds N]``; a temporary database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-floor-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TOOLGATE_VAR_DIR"] = _TMP.name
os.environ["SQLITE_PATH"] = str(Path(_TMP.name) / "bench.sqlite3")
os.environ["LOG_LEVEL"] = "ERROR"
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from tools import journal, records  # noqa: E402
from tools.models import ToolCall  # noqa: E402

CLOSED = ("status", "result", "error", "error_type", "attempts", "cached", "truncated", "fallback_tool",
          "finished_at", "duration_ms")
SCOPE = {"conversation": "5b0c6f0e-2f6a-4a54-9a55-0d7f1d3b9a11",
         "run": "4a1d0c8e-0000-4000-8000-000000000000"}


def toolgate(user: Any) -> Callable[[int], None]:
    def call(n: int) -> None:
        now = timezone.now()
        record = records._create({
            "call_id": f"c{n}", "idempotency_key": None, "user": user, "username": user.username,
            "tool_name": "toy__echo", "risk": "low", "raw_arguments": '{"text": "hi"}', "status": "running",
            "scope": SCOPE, "created_at": now, "started_at": now, "arguments": {"text": "hi"},
            "pending_arguments": None, "gate_action": "allow", "gate_rule": "risk:low",
            "gate_reason": "low-risk tool"})
        records.finish(record, "succeeded", redact=lambda value: value, duration_ms=1.0,
                       result={"content": "hi"}, attempts=1)
    return call


class Floor:
    """The same two transactions, through ``sqlite3``, from the rows of a call Toolgate made."""

    def __init__(self, path: str, call_pk: int, *, audit: bool = True) -> None:
        self.audit = audit
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # as assistant/settings.py sets it
        self.db.row_factory = sqlite3.Row
        call = dict(self.db.execute("SELECT * FROM tools_toolcall WHERE id = ?", [call_pk]).fetchone())
        events = [dict(row) for row in self.db.execute(
            "SELECT * FROM approvals_auditevent WHERE tool_call_id = ? ORDER BY seq", [call_pk])]
        assert [e["kind"] for e in events] == ["call.proposed", "call.validated", "policy.decided",
                                               "call.started", "call.succeeded"], events
        self.db.row_factory = None
        self.closed = [call[name] for name in CLOSED]
        self.opened = {k: v for k, v in call.items() if k != "id"}
        self.opened.update(dict.fromkeys(("result", "error", "finished_at", "duration_ms")), status="running")
        self.events = [{k: v for k, v in e.items() if k != "id"} for e in events]
        self.columns = list(self.opened)
        self.event_columns = list(self.events[0])
        one = f"({', '.join(['?'] * len(self.event_columns))})"
        insert = f"INSERT INTO approvals_auditevent ({', '.join(self.event_columns)}) VALUES "
        self.insert_opening = insert + ", ".join([one] * 4) + " RETURNING id, seq"
        self.insert_closing = insert + one + " RETURNING id, seq"
        self.insert_call = (f"INSERT INTO tools_toolcall ({', '.join(self.columns)}) "
                            f"VALUES ({', '.join(['?'] * len(self.columns))}) RETURNING id")
        self.update_call = f"UPDATE tools_toolcall SET {', '.join(f'{c} = ?' for c in CLOSED)} WHERE id = ?"

    def _append(self, sql: str, events: list[dict[str, Any]], call_pk: int) -> None:
        seq, _ = self.db.execute("SELECT seq, hash FROM approvals_audithead WHERE id = 1").fetchone()
        params: list[Any] = []
        for event in events:
            seq += 1
            params += [seq if c == "seq" else call_pk if c == "tool_call_id" else event[c]
                       for c in self.event_columns]
        self.db.execute(sql, params).fetchall()
        self.db.execute("UPDATE approvals_audithead SET seq = ?, hash = ? WHERE id = 1",
                        [seq, events[-1]["hash"]])

    def __call__(self, n: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        values = [f"floor{n}" if c == "call_id" else self.opened[c] for c in self.columns]
        (call_pk,) = self.db.execute(self.insert_call, values).fetchone()
        if self.audit:
            self._append(self.insert_opening, self.events[:4], call_pk)
        self.db.execute("COMMIT")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(self.update_call, [*self.closed, call_pk])
        if self.audit:
            self._append(self.insert_closing, self.events[4:], call_pk)
        self.db.execute("COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls of each kind")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create(username="bench")
    full = toolgate(user)
    full(0)
    first = ToolCall.objects.get(call_id="c0").pk
    floor, floor_row = (Floor(os.environ["SQLITE_PATH"], first, audit=audit) for audit in (True, False))
    configured = journal.load_journal

    def journal_off(n: int) -> None:
        journal.load_journal = lambda: ()  # type: ignore[assignment]
        try:
            full(n)
        finally:
            journal.load_journal = configured

    ways: dict[str, Callable[[int], None]] = {
        "Toolgate": full, "floor (sqlite3 directly)": floor,
        "Toolgate, journal off": journal_off, "floor, ToolCall row only": floor_row}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    per_round = max(1, args.calls // args.rounds)
    n = 1
    for way in ways.values():  # warm up
        for _ in range(100):
            n += 1
            way(n)
    order = list(ways)
    for _ in range(args.rounds):
        order = order[1:] + order[:1]
        for name in order:
            started = time.process_time()
            for _ in range(per_round):
                n += 1
                ways[name](n)
            cpu[name].append((time.process_time() - started) / per_round)
    print("The two writes of one recorded call (INSERT + 4 audit events, UPDATE + 1 event; two commits),\n"
          f"CPU time per call, median of {args.rounds} interleaved rounds of {per_round} calls, SQLite (WAL)")
    for name, floor_name in (("Toolgate", "floor (sqlite3 directly)"),
                             ("Toolgate, journal off", "floor, ToolCall row only")):
        ours, base = statistics.median(cpu[name]), statistics.median(cpu[floor_name])
        print(f"  {name:24} {ours * 1000:7.3f} ms   {floor_name:26} {base * 1000:7.3f} ms"
              f"   ratio {ours / base:5.2f}x   above the floor {(ours - base) * 1000:+.3f} ms")
    _TMP.cleanup()


if __name__ == "__main__":
    main()
