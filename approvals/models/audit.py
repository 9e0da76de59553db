"""The append-only audit log, each event hash-chained to the one before.

Rows are only ever inserted, through :func:`approvals.audit.record`; the model refuses
updates and deletes, the admin is read-only, and ``manage.py audit verify`` recomputes the
chain to find any row edited, inserted or deleted behind the app's back.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("audit events are append-only: they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, help_text="Position in the chain, from 1.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=40, db_index=True)
    tool_call_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    tool_name = models.CharField(max_length=64, blank=True, db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="Who caused it, if not the user.")
    conversation_id = models.CharField(max_length=64, blank=True, db_index=True)
    outcome = models.CharField(max_length=30, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.tool_name}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self._state.adding:
            raise PermissionError("audit events are append-only: they cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")


class AuditHead(models.Model):
    """One row: the end of the chain. Locked while appending so appends are serialised."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"
