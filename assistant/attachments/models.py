"""The record of one attached file: whose, which conversation, where in the workspace."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def owned_by(self, user: object) -> AttachmentQuerySet:
        """The only way attachments are looked up: another user's id is simply not found."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)

    def pending(self) -> AttachmentQuerySet:
        """Uploaded, not removed, and not yet sent with a message (the composer's chips)."""
        return self.filter(message__isnull=True, removed_at__isnull=True)


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          verbose_name=gettext_lazy("id"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments",
                              verbose_name=gettext_lazy("owner"))
    conversation = models.ForeignKey("assistant.Conversation", on_delete=models.CASCADE,
                                     related_name="attachments", verbose_name=gettext_lazy("conversation"))
    # Set when the user's next message is stored: the message that carried it.
    message = models.ForeignKey("assistant.Message", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="attachment_rows", verbose_name=gettext_lazy("message"))
    name = models.CharField(max_length=255, help_text=gettext_lazy("The file's name as stored (made safe)."),
                            verbose_name=gettext_lazy("name"))
    path = models.CharField(max_length=1024,
                            help_text=gettext_lazy("Where it is, relative to the owner's workspace."),
                            verbose_name=gettext_lazy("path"))
    size = models.PositiveBigIntegerField(verbose_name=gettext_lazy("size"))
    sha256 = models.CharField(max_length=64, verbose_name=gettext_lazy("sha256"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    removed_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("removed at"))

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        app_label = "assistant"
        ordering = ["created_at", "id"]
        verbose_name = gettext_lazy("attachment")
        verbose_name_plural = gettext_lazy("attachments")

    def __str__(self) -> str:
        return f"{self.path} ({self.size} bytes)"

    @property
    def removed(self) -> bool:
        return self.removed_at is not None

    def summary(self) -> dict[str, object]:
        """What a message keeps of it (``Message.attachments``) and the page and API show."""
        return {"id": str(self.pk), "name": self.name, "path": self.path, "size": self.size}
