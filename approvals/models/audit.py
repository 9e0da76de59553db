"""The append-only audit log, each event hash-chained to the one before.

Rows are only ever inserted, and only by :func:`approvals.audit.record`, which gives each
its place in the chain. The model refuses every other write — ``save()``, ``delete()``,
``QuerySet.update()/delete()/bulk_create()`` — the admin is read-only, and no permission
to add, change or delete an event even exists. Nothing points at another table (no foreign
keys), so deleting a user or a tool call can never cascade into the log.

What the app cannot stop (raw SQL, a database console) ``manage.py audit verify`` finds:
it recomputes the chain and names the first event edited, inserted or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields

APPEND_ONLY = "audit events are append-only"


def _refuse(what: str) -> NoReturn:
    raise PermissionError(f"{APPEND_ONLY}: they cannot be {what}")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        _refuse("updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        _refuse("deleted")

    def bulk_update(self, objs: Iterable[AuditEvent], fields: Any, batch_size: int | None = None) -> int:
        _refuse("updated")

    def bulk_create(self, objs: Iterable[AuditEvent], *args: Any, **kwargs: Any) -> list[AuditEvent]:
        raise PermissionError(
            f"{APPEND_ONLY}: add them with approvals.audit.record(), which chains them")


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, help_text=gettext_lazy(
        "Position in the chain, from 1."), verbose_name=gettext_lazy("seq"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("created at"))
    kind = dbfields.CharField(max_length=40, db_index=True, verbose_name=gettext_lazy("kind"))
    tool_call_id = models.BigIntegerField(null=True, blank=True, db_index=True,
                                          verbose_name=gettext_lazy("tool call id"))
    tool_name = dbfields.CharField(max_length=64, blank=True, db_index=True,
                                   verbose_name=gettext_lazy("tool name"))
    user_id = models.BigIntegerField(null=True, blank=True, verbose_name=gettext_lazy("user id"))
    username = dbfields.CharField(max_length=150, blank=True, verbose_name=gettext_lazy("username"))
    actor = dbfields.CharField(max_length=150, blank=True, help_text=gettext_lazy(
        "Who caused it, if not the user."), verbose_name=gettext_lazy("actor"))
    conversation_id = dbfields.CharField(max_length=64, blank=True, db_index=True,
                                         verbose_name=gettext_lazy("conversation id"))
    outcome = dbfields.CharField(max_length=30, blank=True, db_index=True,
                                 verbose_name=gettext_lazy("outcome"))
    data = dbfields.JSONField(default=dict, verbose_name=gettext_lazy("data"))
    prev_hash = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("prev hash"))
    # Not unique, not indexed: ``seq`` orders and identifies events, and every index is paid
    # for by every tool call (a random 64-character key was the costliest of them).
    hash = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("hash"))

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        default_permissions = ("view",)
        verbose_name = gettext_lazy("audit event")
        verbose_name_plural = gettext_lazy("audit events")  # nobody can even be granted add, change or delete

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.tool_name}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            raise PermissionError(f"{APPEND_ONLY}: add them with approvals.audit.record(), which chains them")
        _refuse("changed")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse("deleted")


class AuditHead(models.Model):
    """One row: the end of the chain. Locked while appending so appends are serialised."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, verbose_name=gettext_lazy("id"))
    seq = models.PositiveBigIntegerField(default=0, verbose_name=gettext_lazy("seq"))
    hash = dbfields.CharField(max_length=64, default="0" * 64, verbose_name=gettext_lazy("hash"))

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"
