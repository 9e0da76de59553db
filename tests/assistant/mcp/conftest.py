"""Fixtures for Toolgate's MCP endpoint: the real app under Daphne, the official MCP client.

The app runs in Daphne subprocesses (as in tests/browser) sharing the test database; the
tests create users and tokens with ``transactional_db`` so the servers see them, and talk
to ``/mcp`` with the ``mcp`` SDK's own client over real HTTP. A client runs on its own
event loop in a thread (:class:`Background`), so a test can keep a request open while it
decides the approval in this thread.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any

import httpx2
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from assistant.api import tokens
from tests.browser.conftest import BASE_DIR, LiveServer, _server_env, _wait_until_serving, slow_llm  # noqa: F401

SERVER_ENV = {
    "MCP_SERVER_POLL_SECONDS": "0.2",
    "MCP_SERVER_KEEPALIVE_SECONDS": "0.3",
    "MCP_SERVER_MAX_REQUEST_BYTES": "65536",
    "APPROVALS_ALLOW_SELF_APPROVAL": "false",
}


def start_daphne(env: dict[str, str], log_dir: Any, name: str) -> LiveServer:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "-v", "1",
             "tests.browser.asgi:application"],
            cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()])
    listener.close()
    server = LiveServer(url, process, log)
    _wait_until_serving(url, process, log)
    return server


def stop(server: LiveServer) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)


@pytest.fixture(scope="session")
def mcp_servers(django_db_setup: Any, slow_llm: Any,  # noqa: F811
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveServer]]:
    """Two Daphne processes serving the app (embedded mode: they share only the database)."""
    env = {**_server_env("", slow_llm), **SERVER_ENV}
    logs = tmp_path_factory.mktemp("mcp-servers")
    servers: list[LiveServer] = []
    try:
        for i in range(2):
            servers.append(start_daphne(env, logs, f"daphne{i}"))
        yield servers
    finally:
        for server in servers:
            stop(server)


@pytest.fixture
def live(mcp_servers: list[LiveServer]) -> LiveServer:
    return mcp_servers[0]


class Background:
    """An event loop in a thread: start coroutines that outlive one call (an open request)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def start(self, coro: Awaitable[Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        return self.start(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def background() -> Iterator[Background]:
    bg = Background()
    yield bg
    bg.close()


async def with_client(url: str, secret: str | None, use: Callable[[Client], Awaitable[Any]], *,
                      name: str = "pytest-agent", version: str = "1.2.3", mode: str = "legacy") -> Any:
    """Connect the official client to ``url``/mcp with the token and run ``use(client)``."""
    import mcp_types

    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        client = Client(transport, mode=mode, cache=None,
                        client_info=mcp_types.Implementation(name=name, version=version))
        async with client:
            return await use(client)


@pytest.fixture
def alice(transactional_db: Any, django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def approver(transactional_db: Any, django_user_model: Any) -> Any:
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return django_user_model.objects.get(pk=bob.pk)  # fresh: permissions are cached per object


@pytest.fixture
def secret(alice: Any) -> str:
    return tokens.create(alice, "agent").secret


def sync(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    return async_to_sync(fn)
