"""Shared set-up for approval tests: a chatting user, an approver, sockets and the admin."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client

from assistant.asgi import application


def make_approver(django_user_model: Any, username: str = "bob") -> Any:
    approver = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-approver-123",
                                                     is_staff=True)
    decide = Permission.objects.get(codename="decide", content_type__app_label="approvals")
    approver.user_permissions.add(decide)
    return approver


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def open_socket(user: Any, path: str) -> WebsocketCommunicator:
    client = Client()
    await asyncio.to_thread(client.force_login, user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    socket = WebsocketCommunicator(application, path, headers=[
        (b"cookie", cookie.encode()), (b"origin", b"http://localhost")])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def say(socket: WebsocketCommunicator, text: str) -> None:
    await socket.send_to(text_data=json.dumps({"type": "user.message", "content": text,
                                               "client_id": str(uuid.uuid4())}))


async def events_until(socket: WebsocketCommunicator, *types: str) -> list[dict]:
    seen = []
    while True:
        event = json.loads(await socket.receive_from(timeout=10))
        seen.append(event)
        if event["type"] in types:
            return seen
