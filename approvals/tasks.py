"""Celery tasks: thin, take ids, idempotent (the services they call check state first).

``carry_out_decision`` is acknowledged late and rejected when its worker dies, so a
killed worker's task is delivered again; the service then finds the call ``running`` and
closes it as failed instead of running it twice.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from celery import shared_task

from approvals import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def carry_out_decision(approval_id: int) -> None:
    async_to_sync(services.carry_out)(approval_id)


@shared_task(ignore_result=True)
def expire_stale_requests() -> int:
    services.remind_due()
    return services.expire_stale()


@shared_task(ignore_result=True)
def deliver_notifications(approval_id: int, event: str) -> None:
    from approvals import notifications

    notifications.deliver(approval_id, event)
