"""A Redis restart in production mode costs no run and no socket.

A real Daphne on the production settings (channels-redis, the Redis event log and cache)
streams a slow answer; the real Redis is shut down and started again mid-stream, which
closes every connection in the server's pools. The run must finish, and afterwards 50 new
sockets must all be served (before retries and health checks, each stale pooled
connection failed the next command on it: runs crashed and sockets closed with 1011).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import redis
from asgiref.sync import sync_to_async

from assistant.models import Conversation, Run
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.scripts import text, words
from tests.live import Daphne, connect, events_until, say, session_cookie
from tests.prod.helpers import eventually

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = 50


def restart_redis(url: str) -> None:
    """SHUTDOWN NOSAVE the server at ``url`` and start it again with the same settings."""
    port = urlsplit(url).port
    client = redis.Redis.from_url(url)
    config = {key: client.config_get(key)[key] for key in ("dir", "pidfile", "logfile")}
    with contextlib.suppress(redis.ConnectionError):  # the server closes the connection as it goes
        client.shutdown(nosave=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
            time.sleep(0.05)
        except redis.ConnectionError:
            break
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "yes", "--dir", config["dir"],
                    "--pidfile", config["pidfile"], "--logfile", config["logfile"]], check=True)
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("Redis did not come back within 20 s")


@pytest.fixture
def slow_model():
    answer = text(words(40), chunks=40).delayed(between=0.1)
    with FakeLLMServer(default=lambda request: answer) as server:
        yield server


async def test_a_redis_restart_mid_stream_finishes_the_run_and_then_50_new_sockets_are_served(
        user, slow_model, tmp_path):
    profiles = json.dumps({"slow": {"provider": "openai_compatible", "model": "fake-slow",
                                    "base_url": slow_model.openai_base_url, "max_retries": 0}})
    server = await asyncio.to_thread(Daphne(tmp_path / "daphne.log", LLM_PROFILES=profiles).start)
    cookie = await sync_to_async(session_cookie)(user)
    try:
        convo = await Conversation.objects.acreate(owner=user, profile="slow")
        socket = await connect(server, cookie, f"/ws/conversations/{convo.pk}/")
        await say(socket, "tell me something long")
        await events_until(socket, "assistant.delta")
        began = time.monotonic()
        await asyncio.to_thread(restart_redis, os.environ["REDIS_URL"])
        print(f"Redis was restarted in {time.monotonic() - began:.2f} s")

        # Redis lost the replay buffer (and the socket's group): the socket hears the rest of
        # the run, or — if events were lost with Redis — is told to resynchronise.
        last = (await events_until(socket, "run.finished", "sync.required"))[-1]
        if last["type"] == "run.finished":
            assert last["run"]["status"] == "completed", server.output()[-3000:]
        finished = Run.objects.filter(conversation=convo, status__in=Run.FINISHED)
        run = await eventually(finished.afirst, what="the run to finish")
        assert run.status == Run.Status.COMPLETED
        await socket.close()

        # Ten at a time: on a loaded 2-core machine fifty simultaneous handshakes can outlast
        # Daphne's handshake timeout, which is not what this test is about.
        gate = asyncio.Semaphore(10)

        async def one_more(i: int) -> dict:
            async with gate:
                return await served(i)

        async def served(i: int) -> dict:
            convo = await Conversation.objects.acreate(owner=user, profile="demo")
            ws = await connect(server, cookie, f"/ws/conversations/{convo.pk}/")
            try:
                await say(ws, f"hello {i}")
                return (await events_until(ws, "run.finished", "error", within=120))[-1]
            finally:
                await ws.close()

        results = await asyncio.gather(*(one_more(i) for i in range(SOCKETS)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException) or r["type"] != "run.finished"
                    or r["run"]["status"] != "completed"]
        assert failures == [], f"{failures[:3]}\n{server.output()[-3000:]}"
        assert "Connection closed by server" not in server.output()
    finally:
        await asyncio.to_thread(server.stop)
