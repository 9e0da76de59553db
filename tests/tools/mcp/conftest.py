"""Real MCP servers for the MCP tests: the toy server (stdio or HTTP) and a manager."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.mcp_servers import TOY
from tools.mcp.manager import Manager, Tuning
from tools.mcp.spec import ServerSpec
from tools.registry import Registry

FAST = Tuning(connect_timeout=20.0, backoff_start=0.2, backoff_max=1.0, watch_interval=0.1, ping_interval=5.0)


def toy_spec(name: str = "toy", *args: str, **fields) -> ServerSpec:
    return ServerSpec(name=name, transport="stdio", command=sys.executable, args=(TOY, *args), **fields)


def events(spec: ServerSpec) -> list[dict]:
    path = spec.workdir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def clean_workdirs(settings, tmp_path):
    settings.TOOLS_MCP_DIR = tmp_path / "mcp"
    return settings.TOOLS_MCP_DIR


@pytest.fixture
def manager(clean_workdirs):
    made = Manager(Registry(), tuning=FAST)
    yield made
    made.close()


async def connect(manager: Manager, *specs: ServerSpec, wait: float = 60.0) -> None:
    await manager.configure(specs)
    await manager.settled(wait)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_toy(tmp_path):
    """The toy server over Streamable HTTP, started for the test, and its events file."""
    port = free_port()
    events_file = tmp_path / "http-events.jsonl"
    process = subprocess.Popen([sys.executable, TOY, "--transport", "http", "--port", str(port),
                                "--events", str(events_file)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()) from None
            time.sleep(0.1)
    yield url, events_file
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:  # uvicorn waits for open streams (a subscriptions/listen)
        process.kill()
        process.wait(10)


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def eventually(predicate, within: float = 30.0, interval: float = 0.05):
    """Poll ``predicate`` (a plain function, run in a thread) without blocking the loop or
    asgiref's thread for database work."""
    import asyncio

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")
