"""The approvers' socket: the live count of pending requests, for the admin's queue page.

Only staff with ``approvals.decide`` may connect (4401 anonymous, 4403 otherwise). It only
ever sends counts; decisions are made over HTTP in the admin.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

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
        self.joined = True
        await self.channel_layer.group_add(APPROVERS_GROUP, self.channel_name)
        count = await database_sync_to_async(pending_count)()
        await self.send_json({"type": "queue.changed", "pending": count})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(APPROVERS_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "error", "code": "read_only",
                              "message": "This socket only sends counts."})

    async def queue_changed(self, event: dict[str, Any]) -> None:
        """Handler for the channel-layer type ``queue.changed``."""
        await self.send_json({"type": "queue.changed", "pending": event["pending"]})
