"""Tell approvers (the admin's live pending counter) that the queue changed."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

APPROVERS_GROUP = "approvals.queue"


def pending_count() -> int:
    from approvals.models import ApprovalRequest

    return ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).count()


def pending_changed() -> None:
    """Broadcast the new pending count; never let a notification failure break a decision."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = {"type": "queue.changed", "pending": pending_count()}
        async_to_sync(layer.group_send)(APPROVERS_GROUP, message)
    except Exception:  # a dropped notification only delays the counter
        import logging

        logging.getLogger(__name__).warning("could not notify approvers", exc_info=True)
