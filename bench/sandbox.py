"""What run_python's filesystem isolation costs per run: bubblewrap vs the weak plan.

Runs ``pass`` through ``sandbox.execute`` N times in each mode, interleaved (isolated,
weak, isolated, ...) so that the machine's load hits both alike, and prints each mode's
median wall time per run and their ratio. The weak plan is the sandbox as it was before
bubblewrap (limits, uid and network namespace, no mount namespace): the baseline.

Standalone: ``python bench/sandbox.py [--runs N]`` (default 20).
"""

from __future__ import annotations

import argparse
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
os.environ["LOG_LEVEL"] = "ERROR"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from tools.builtin import sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs

    try:
        isolated = sandbox.sandbox_plan()
    except sandbox.SandboxUnavailable as exc:
        print(f"bench/sandbox.py skipped: {exc}")
        return
    weak = sandbox._weak_plan()
    limits = sandbox.Limits(wall_seconds=10.0, memory_bytes=settings.TOOLS_PYTHON_MEMORY_MB << 20,
                            max_output=1000, disk_bytes=settings.TOOLS_PYTHON_DISK_MB << 20)
    times: dict[str, list[float]] = {"isolated": [], "weak": []}
    for _ in range(runs):
        for name, plan in (("isolated", isolated), ("weak", weak)):
            started = time.perf_counter()
            outcome = sandbox.execute("pass", plan, limits)
            times[name].append(time.perf_counter() - started)
            assert outcome.exit_code == 0, outcome.stderr

    iso, base = statistics.median(times["isolated"]), statistics.median(times["weak"])
    print(f"run_python startup, median of {runs} runs each, interleaved")
    rows = [("weak plan (baseline: no filesystem isolation)", f"{base * 1000:8.1f} ms"),
            (f"bubblewrap, {isolated.interpreter}", f"{iso * 1000:8.1f} ms"),
            ("ratio isolated / weak", f"{iso / base:8.2f}x")]
    for label, value in rows:
        print(f"  {label:<48}{value}")


if __name__ == "__main__":
    main()
