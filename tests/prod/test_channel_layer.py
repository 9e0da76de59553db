"""The Redis channel layer keeps an idle socket's receive loop alive."""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from assistant.models import Conversation
from assistant.realtime.delivery import Publisher
from tests.approvals.helpers import open_socket
from tests.prod.helpers import events_until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_idle_for_several_blocking_receives_still_gets_events(user):
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    await asyncio.sleep(2.5 * RedisChannelLayer.brpop_timeout)  # waiting for an approver, say
    await Publisher(convo.pk)({"type": "run.finished", "run": {"id": "r", "status": "completed"}})
    [event] = await events_until(socket, "run.finished", within=10)
    assert event["seq"] == 1
    await socket.disconnect()
