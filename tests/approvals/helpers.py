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
from django.utils import timezone

from approvals.models import ApprovalRequest
from assistant.asgi import application
from tools.models import ToolCall


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


def parked(user: Any, *, tool: str = "send_email", risk: str = "high", minutes: int = 60, waited: int = 0,
           scope: dict[str, Any] | None = None, conversation: str = "",
           arguments: dict[str, Any] | None = None, status: str = "pending") -> ApprovalRequest:
    """A request parked for approval (and its ToolCall), ``waited`` minutes ago, expiring in ``minutes``."""
    record = ToolCall.objects.create(call_id=f"c{ToolCall.objects.count()}", tool_name=tool, status="pending",
                                     user=user, username=user.username, scope=scope or {},
                                     arguments=arguments or {"to": ["x@example.org"]})
    now = timezone.now()
    return ApprovalRequest.objects.create(
        tool_call=record, tool_name=tool, arguments=record.arguments, risk=risk, rule=f"risk:{risk}",
        requester=user, conversation_id=conversation, status=status,
        created_at=now - timezone.timedelta(minutes=waited),
        expires_at=now + timezone.timedelta(minutes=minutes))
