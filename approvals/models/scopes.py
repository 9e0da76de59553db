"""Scoped approval: one approval that also covers later calls of the same tool in the same
conversation, for a bounded time and number of calls, until it runs out or is revoked."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields


class ApprovalScope(models.Model):
    approval = models.OneToOneField("approvals.ApprovalRequest", on_delete=models.PROTECT,
                                    related_name="scope_granted", verbose_name=gettext_lazy("approval"))
    tool_name = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("tool name"))
    conversation_id = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("conversation id"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE,
                             related_name="approval_scopes",
                             help_text=gettext_lazy(
                                 "Whose calls it covers: the requester of the approved call."),
                             verbose_name=gettext_lazy("user"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="approval_scopes_granted",
                                   verbose_name=gettext_lazy("granted by"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    expires_at = models.DateTimeField(verbose_name=gettext_lazy("expires at"))
    max_calls = models.PositiveIntegerField(
        help_text=gettext_lazy("Later calls it may cover (the approved one not counted)."),
                                            verbose_name=gettext_lazy("max calls"))
    used_calls = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("used calls"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("revoked at"))
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="approval_scopes_revoked",
                                   verbose_name=gettext_lazy("revoked by"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tool_name", "conversation_id"])]
        verbose_name = gettext_lazy("approval scope")
        verbose_name_plural = gettext_lazy("approval scopes")

    def __str__(self) -> str:
        return f"{self.tool_name} in conversation {self.conversation_id} (scope #{self.pk})"

    @property
    def is_active(self) -> bool:
        return (self.revoked_at is None and self.used_calls < self.max_calls
                and self.expires_at > timezone.now())

    @classmethod
    def live(cls, tool_name: str, conversation_id: str,
             user_id: int | None) -> models.QuerySet[ApprovalScope]:
        return cls.objects.filter(tool_name=tool_name, conversation_id=conversation_id, user_id=user_id,
                                  user_id__isnull=False, revoked_at=None,
                                  used_calls__lt=F("max_calls"), expires_at__gt=timezone.now())

    @classmethod
    async def ause(cls, tool_name: str, conversation_id: str, user_id: int | None) -> ApprovalScope | None:
        """Take one call from a live scope, as a conditional update that must change exactly
        one row: two calls racing for the last use cannot both get it."""
        async for scope in cls.live(tool_name, conversation_id, user_id).order_by("created_at"):
            claimed = await cls.live(tool_name, conversation_id, user_id).filter(pk=scope.pk).aupdate(
                used_calls=F("used_calls") + 1)
            if claimed == 1:
                scope.used_calls += 1
                return scope
        return None

    def revoke(self, by: object) -> bool:
        updated = ApprovalScope.objects.filter(pk=self.pk, revoked_at=None).update(
            revoked_at=timezone.now(), revoked_by=by)
        if updated == 1:
            self.refresh_from_db()
        return updated == 1
