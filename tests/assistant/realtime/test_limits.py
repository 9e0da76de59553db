"""A user may hold at most ``REALTIME_MAX_SOCKETS_PER_USER`` chat sockets open (issue 10.6).

Real sockets through the production ASGI application (origin check, session cookie,
auth middleware), as in tests/assistant/realtime/test_consumers.py.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from assistant.models import Conversation
from assistant.realtime import limits
from assistant.realtime.limits import CLOSE_TOO_MANY, MemorySlots

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


def settings_redis_url() -> str | None:
    from django.conf import settings

    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _fresh(fresh_realtime):
    """A fresh event log and channel layer (tests/conftest.py)."""


@pytest.fixture
def app(settings: Any) -> Any:
    settings.ALLOWED_HOSTS = ["localhost"]
    import assistant.asgi

    return importlib.reload(assistant.asgi).application


async def cookie_for(user: Any) -> str:
    client = AsyncClient()
    await client.aforce_login(user)
    return client.cookies["sessionid"].value


def socket_to(app: Any, conversation: Any, cookie: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(app, f"/ws/conversations/{conversation.pk}/", headers=[
        (b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())])


async def is_open(socket: WebsocketCommunicator) -> bool:
    """Connected, and still serving frames (an unknown frame type gets an error event)."""
    await socket.send_to(text_data=json.dumps({"type": "ping"}))
    output = await socket.receive_output(timeout=TIMEOUT)
    return output["type"] == "websocket.send" and json.loads(output["text"])["code"] == "unknown_type"


async def closed_with(socket: WebsocketCommunicator) -> dict[str, Any]:
    output = await socket.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close"
    return output


async def test_the_socket_over_the_limit_is_closed_with_4429_and_closing_one_frees_a_place(
        app, settings, user):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 3
    cookie = await cookie_for(user)
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    sockets = [socket_to(app, convo, cookie) for _ in range(3)]
    for socket in sockets:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        assert await is_open(socket)

    fourth = socket_to(app, convo, cookie)
    assert (await fourth.connect(timeout=TIMEOUT))[0]  # accepted, then closed with the reason
    closed = await closed_with(fourth)
    assert closed["code"] == CLOSE_TOO_MANY == 4429
    assert closed["reason"] == ("Too many open chat connections (at most 3 per user): close other tabs, "
                                "then reload.")
    assert await limits.slots().count(user.pk) == 3
    for socket in sockets:
        assert await is_open(socket)  # the ones already open are untouched

    await sockets[0].disconnect()
    assert await limits.slots().count(user.pk) == 2
    again = socket_to(app, convo, cookie)
    assert (await again.connect(timeout=TIMEOUT))[0]
    assert await is_open(again)
    for socket in [*sockets[1:], again]:
        await socket.disconnect()
    assert await limits.slots().count(user.pk) == 0


async def test_the_limit_is_per_user_across_conversations(app, settings, user, other_user):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 2
    alice, bob = await cookie_for(user), await cookie_for(other_user)
    first, second = [await Conversation.objects.acreate(owner=user, profile="demo") for _ in range(2)]
    theirs = await Conversation.objects.acreate(owner=other_user, profile="demo")
    held = [socket_to(app, first, alice), socket_to(app, second, alice), socket_to(app, theirs, bob)]
    for socket in held:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        assert await is_open(socket)  # bob's socket is not counted against alice
    third = socket_to(app, second, alice)
    await third.connect(timeout=TIMEOUT)
    assert (await closed_with(third))["code"] == 4429
    for socket in held:
        await socket.disconnect()


async def test_refused_sockets_take_no_place_and_zero_means_no_limit(app, settings, user, other_user):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 1
    cookie = await cookie_for(user)
    foreign = await Conversation.objects.acreate(owner=other_user, profile="demo")
    refused = socket_to(app, foreign, cookie)
    await refused.connect(timeout=TIMEOUT)
    assert (await closed_with(refused))["code"] == 4403  # not the owner: refused before counting
    assert await limits.slots().count(user.pk) == 0

    settings.REALTIME_MAX_SOCKETS_PER_USER = 0
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    many = [socket_to(app, convo, cookie) for _ in range(5)]
    for socket in many:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        assert await is_open(socket)
    for socket in many:
        await socket.disconnect()


async def test_two_sockets_racing_for_the_last_place_get_one_between_them():
    slots = MemorySlots()
    names = [f"socket-{uuid.uuid4()}" for _ in range(10)]
    taken = await asyncio.gather(*(slots.acquire(7, name, 4) for name in names))
    assert sum(taken) == 4 and await slots.count(7) == 4
    for name, got in zip(names, taken, strict=True):
        if got:
            await slots.release(7, name)
    assert await slots.count(7) == 0


@pytest.mark.skipif(not settings_redis_url(), reason="needs REDIS_URL (make test-prod)")
async def test_in_redis_the_count_is_shared_by_processes_and_a_dead_ones_places_lapse():
    from assistant.realtime.limits import RedisSlots

    one, two = RedisSlots(settings_redis_url()), RedisSlots(settings_redis_url())  # two servers
    user_id = 10_000_000 + uuid.uuid4().int % 1_000_000
    assert await one.acquire(user_id, "a", 2) and await two.acquire(user_id, "b", 2)
    assert not await two.acquire(user_id, "c", 2)
    assert await one.count(user_id) == 2
    await one.release(user_id, "a")
    assert await two.acquire(user_id, "c", 2)
    dead = RedisSlots(settings_redis_url())
    dead.lease = 0.5  # a process that stops renewing: its place lapses after its lease
    await two.release(user_id, "b")
    assert await dead.acquire(user_id, "d", 2)
    assert not await one.acquire(user_id, "e", 2)
    await asyncio.sleep(0.7)
    assert await one.acquire(user_id, "e", 2)
    await two.release(user_id, "c")
    await one.release(user_id, "e")
