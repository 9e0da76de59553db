"""Fixtures for run_python's tests: small limits, and a check that nothing is left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

from tools.builtin import sandbox
from tools.builtin.sandbox import run_python

WALL = 2.0


def require_isolation() -> None:
    """Skip when bubblewrap cannot run here, unless TOOLGATE_REQUIRE_BWRAP says it must
    (``.ci/run`` sets it, so CI fails instead of skipping)."""
    try:
        sandbox.sandbox_plan()
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("TOOLGATE_REQUIRE_BWRAP"):
            raise
        pytest.skip(f"run_python's isolated mode is unavailable here: {exc}")


@pytest.fixture
def sandbox_runs(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Small limits, a private temp directory, and a check for leftovers after the test.

    Other test runs may use the sandbox at the same time, so only what *this* test started
    is checked: the uids it was given and the scratch directories under its temp directory.
    """
    settings.TOOLS_PYTHON_TIMEOUT = WALL
    settings.TOOLS_PYTHON_MEMORY_MB = 256
    settings.TOOLS_PYTHON_MAX_OUTPUT = 1000
    settings.TOOLS_PYTHON_DISK_MB = 4
    require_isolation()  # also probes (once per process) before the test's records start
    temp_root = tempfile.mkdtemp(prefix="toolgate-sandbox-test-")
    os.chmod(temp_root, 0o755)  # like /tmp, traversable by the sandbox's unprivileged uid
    monkeypatch.setattr(tempfile, "tempdir", temp_root)
    uids: list[int] = []
    allocate = sandbox._allocate_uid

    def recording_allocate() -> int:
        uids.append(allocate())
        return uids[-1]

    monkeypatch.setattr(sandbox, "_allocate_uid", recording_allocate)
    try:
        yield
        assert _stray_processes(set(uids), temp_root) == []
        assert os.listdir(temp_root) == []
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)


def _stray_processes(uids: set[int], temp_root: str) -> list[str]:
    """Live processes (not zombies) running as one of ``uids`` or inside ``temp_root``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if status.get("State", "").strip().startswith(("Z", "X")):
            continue
        uid = int(status["Uid"].split()[0])
        if uid in uids or cwd.startswith(temp_root):
            found.append(f"pid {pid} uid {uid} cwd {cwd} {status.get('Name', '').strip()}")
    return found


def run(code: str) -> dict:
    started = time.monotonic()
    result = run_python.fn(code)
    assert time.monotonic() - started < WALL + 20  # generous: proves the run cannot hang
    return result
