"""Resuming a conversation's event stream when the client has seen more than the log knows."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from assistant.models import Conversation
from assistant.realtime.consumers import ConversationConsumer
from assistant.realtime.delivery import MemoryEventLog


@pytest.mark.django_db(transaction=True)
async def test_a_client_ahead_of_the_log_must_resynchronise(user):
    # A restart mid-run: the client saw seq 50, the new process only knows the stored 30.
    conversation = await Conversation.objects.acreate(owner=user, profile="demo", last_seq=30)
    log = MemoryEventLog(limit=100)
    assert await log.since(str(conversation.pk), 50) is None
    assert await log.since(str(conversation.pk), 30) == []
    assert (await log.append(str(conversation.pk), {"type": "run.finished"}))["seq"] == 31


@pytest.mark.django_db(transaction=True)
async def test_a_socket_resuming_after_an_unknown_seq_is_sent_sync_required(user):
    conversation = await Conversation.objects.acreate(owner=user, profile="demo", last_seq=30)
    communicator = WebsocketCommunicator(ConversationConsumer.as_asgi(),
                                         f"/ws/conversations/{conversation.pk}/?after=50")
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"kwargs": {"conversation_id": conversation.pk}}
    connected, _ = await communicator.connect()
    assert connected
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "sync.required"
    assert event["seq"] == 30  # then the events from 31 on, which it would otherwise drop
    await communicator.disconnect()
