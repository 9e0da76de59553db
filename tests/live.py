"""A real Daphne server in a subprocess, and a signed-in WebSocket to it, for crash tests.

The server sees the test database (tests/databases.py) and whatever Redis the suite uses,
so a test can ``kill -9`` it mid-run and look at what it left behind. Like the browser
tests' server, it listens on a socket this process opened (``daphne --fd``): no port race.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

from tests.databases import shared_database_env

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0


class Daphne:
    """``with Daphne(log, **env) as server:`` — started, serving, stopped (or killed)."""

    def __init__(self, log: Path, **env: str) -> None:
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daphne:
        skip = ("LLM_", "OPENAI_", "ANTHROPIC_", "PYTEST_", "DJANGO_ALLOW_ASYNC_UNSAFE")
        env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        env.update({"DJANGO_SETTINGS_MODULE": "tests.settings", **shared_database_env(),
                    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
                    "LOG_FORMAT": "text", **self.env})
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "-v", "1",
                 "assistant.asgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()],
                start_new_session=True)
        listener.close()
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not answer within {STARTUP_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no finally block, nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> Daphne:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def session_cookie(user: Any) -> str:
    """A signed-in session for ``user`` (stored in the database the server reads)."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def connect(server: Daphne, cookie: str, path: str) -> Any:
    import websockets

    return await websockets.connect(
        f"ws://127.0.0.1:{server.port}{path}", origin="http://127.0.0.1",
        additional_headers={"Cookie": cookie}, open_timeout=30)


async def say(socket: Any, text: str) -> None:
    await socket.send(json.dumps({"type": "user.message", "content": text,
                                  "client_id": str(uuid.uuid4())}))


async def events_until(socket: Any, *types: str, within: float = 60.0) -> list[dict[str, Any]]:
    import asyncio

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {types} within {within} s; saw {[e['type'] for e in seen]}")
        event = json.loads(await asyncio.wait_for(socket.recv(), left))
        seen.append(event)
        if event["type"] in types:
            return seen
