"""Memory one oversized result costs, bounded (now) against the old unbounded path.

Issue 10.3: one ``query_database`` call — 200 rows of a 1 MB ``printf`` string — raised the
server's memory from 185 MB to 716 MB. Each round runs, in fresh processes and interleaved:

* **bounded**: ``query_database`` as it is, then the pipeline's ``truncate`` (defaults);
* **baseline**: the same query fetched as before (``fetchmany(max_rows + 1)``, every row
  whole), then the old truncation (the whole JSON text built, then sliced).

and prints the growth of the peak resident memory over the resident memory before the
call (``VmHWM`` after resetting it, minus ``VmRSS``), with the ratio. A second figure
measures the pipeline's own share for any tool: ``truncate`` of a 50 MB result, traced
with ``tracemalloc``, against the old whole-text truncation.

Standalone: ``python bench/result_memory.py [--rounds N]`` (one round by default, some seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATTACK = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
          "SELECT printf('%.*c', 999999, 'x') FROM r LIMIT 200")

CHILD = r"""
import json, os, sys, tracemalloc
import django
django.setup()
from django.conf import settings
from tools.builtin import sql
from tools.results import truncate

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

def old_truncate(value, max_chars):
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= max_chars:
        return value
    return {"truncated": True, "total_chars": len(text), "content": text[:max_chars]}

def old_query(query):
    conn, _ = sql.connect_readonly(sql.ensure_database())
    try:
        cursor = conn.execute(query)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(settings.TOOLS_SQL_MAX_ROWS + 1)
    finally:
        conn.close()
    rows = rows[:settings.TOOLS_SQL_MAX_ROWS]
    return {"columns": columns, "rows": [list(r) for r in rows], "row_count": len(rows)}

mode, query = sys.argv[1], os.environ["ATTACK"]
sql.ensure_database()
if mode.startswith("sql"):
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status("VmRSS")
    if mode == "sql-bounded":
        truncate(sql.query_database(query), settings.TOOLS_MAX_RESULT_CHARS, settings.TOOLS_MAX_RESULT_BYTES)
    else:
        old_truncate(old_query(query), settings.TOOLS_MAX_RESULT_CHARS)
    print(status("VmHWM") - before)
else:
    value = {"text": "x" * 50_000_000}
    tracemalloc.start()
    if mode == "pipe-bounded":
        truncate(value, settings.TOOLS_MAX_RESULT_CHARS, settings.TOOLS_MAX_RESULT_BYTES)
    else:
        old_truncate(value, settings.TOOLS_MAX_RESULT_CHARS)
    print(tracemalloc.get_traced_memory()[1])
"""


def measure(mode: str, env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="toolgate-bench-") as tmp:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
               "TOOLGATE_VAR_DIR": tmp, "TOOLS_SAMPLE_DB_PATH": str(Path(tmp) / "sample.sqlite3"),
               "ATTACK": ATTACK, "LOG_LEVEL": "ERROR"}
        results: dict[str, list[int]] = {}
        for _ in range(rounds):  # interleaved: load on the machine hits both alike
            for mode in ("sql-baseline", "sql-bounded", "pipe-baseline", "pipe-bounded"):
                results.setdefault(mode, []).append(measure(mode, env))
    mb = 2 ** 20
    for label, unit in (("sql", "peak RSS growth, query + truncation"),
                        ("pipe", "traced peak, truncating a 50 MB result")):
        base = statistics.median(results[f"{label}-baseline"])
        bounded = statistics.median(results[f"{label}-bounded"])
        print(f"{unit:42s} baseline {base / mb:8.1f} MB   bounded {bounded / mb:6.1f} MB   "
              f"ratio {bounded / base:.3f}  (median of {rounds})")
    print(json.dumps({k: [round(v / mb, 1) for v in vs] for k, vs in results.items()}))


if __name__ == "__main__":
    main()
