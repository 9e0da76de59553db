"""The approvers' socket: the doorbell of the admin's live approval queue.

Only staff with ``approvals.decide`` may connect (4401 anonymous, 4403 otherwise); everyone
else receives nothing. Each frame says that a request arrived in or left the pending queue
(its id), the pending count, and whether *this* approver may decide it (not their own
request, unless self-approval is on) — never the tool, the arguments or the requester. The
page then fetches its rows from the admin, which applies this user's permissions, filters
and sorting, and escapes every value. Decisions are made over HTTP in the admin.

Thin and async: the permission check and the first count run in a worker thread
(``database_sync_to_async``); forwarding a broadcast touches no database.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from approvals.notify import APPROVERS_GROUP, pending_count


class ApprovalQueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not (user.is_staff and await database_sync_to_async(user.has_perm)("approvals.decide")):
            await self.close(code=4403)
            return
        self.user_id = user.pk
        self.joined = True
        await self.channel_layer.group_add(APPROVERS_GROUP, self.channel_name)
        count = await database_sync_to_async(pending_count)()
        await self.send_json({"type": "queue.changed", "pending": count})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(APPROVERS_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "error", "code": "read_only",
                              "message": "This socket only announces changes to the queue."})

    async def queue_changed(self, event: dict[str, Any]) -> None:
        """Handler for the channel-layer type ``queue.changed`` (approvals/notify.py)."""
        frame: dict[str, Any] = {"type": "queue.changed", "pending": event["pending"]}
        if event.get("approval_id") is not None:
            own = event.get("requester_id") == self.user_id
            frame.update(approval_id=event["approval_id"], change=event.get("change", ""),
                         decidable=not own or settings.APPROVALS_ALLOW_SELF_APPROVAL)
        await self.send_json(frame)
