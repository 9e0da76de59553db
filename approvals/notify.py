"""Tell approvers' open queue pages that the queue changed, over the channel layer.

The message is a doorbell, not the request: the id of the request that arrived or left, how
many are pending, and whose it is (the consumer uses that to tell an approver whether they
may decide it, and never forwards it). Tool names, arguments and rules never travel here;
the page fetches its rows from the admin, which applies the approver's permissions.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

APPROVERS_GROUP = "approvals.queue"
ADDED, REMOVED = "added", "removed"

logger = logging.getLogger(__name__)


def pending_count() -> int:
    from approvals.models import ApprovalRequest

    return ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).count()


def pending_changed(approval_id: int | None = None, change: str = "",
                    requester_id: int | None = None) -> None:
    """Broadcast that request ``approval_id`` was ``added`` to or ``removed`` from the
    pending queue, with the new pending count; never let a failure here break a decision."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = {"type": "queue.changed", "pending": pending_count(), "approval_id": approval_id,
                   "change": change, "requester_id": requester_id}
        async_to_sync(layer.group_send)(APPROVERS_GROUP, message)
    except Exception:  # a dropped notification only delays the page until the next one
        logger.warning("could not notify approvers", exc_info=True)


def on_commit_changed(approval_id: int, change: str, requester_id: int | None) -> None:
    """Schedule :func:`pending_changed` for after the current transaction commits."""
    transaction.on_commit(lambda: pending_changed(approval_id, change, requester_id))
