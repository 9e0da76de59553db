"""One row per notification sent to approvers, and how it went (read-only in the admin)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields


class NotificationDelivery(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", gettext_lazy("Email")
        WEBHOOK = "webhook", gettext_lazy("Webhook")
        SLACK = "slack", gettext_lazy("Slack")

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Failed")

    approval = models.ForeignKey("approvals.ApprovalRequest", on_delete=models.CASCADE,
                                 related_name="notifications", verbose_name=gettext_lazy("approval"))
    event = dbfields.CharField(max_length=40, db_index=True, verbose_name=gettext_lazy("event"))
    channel = dbfields.CharField(max_length=10, choices=Channel.choices,
                                 verbose_name=gettext_lazy("channel"))
    target = dbfields.CharField(max_length=300, help_text=gettext_lazy(
        "An approver's address, or the webhook's origin."), verbose_name=gettext_lazy("target"))
    status = dbfields.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True,
                                verbose_name=gettext_lazy("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("attempts"))
    response_status = models.PositiveIntegerField(null=True, blank=True,
                                                  verbose_name=gettext_lazy("response status"))
    last_error = dbfields.TextField(blank=True, verbose_name=gettext_lazy("last error"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = gettext_lazy("notification deliveries")
        verbose_name = gettext_lazy("notification delivery")

    def __str__(self) -> str:
        return f"{self.event} → {self.target} ({self.status})"

    def attempt_failed(self, error: str, response_status: int | None = None) -> None:
        self.attempts += 1
        self.last_error, self.response_status = error[:2000], response_status
        self.save(update_fields=["attempts", "last_error", "response_status"])

    def finish(self, status: str, *, response_status: int | None = None) -> None:
        self.status, self.finished_at = status, timezone.now()
        fields = ["status", "finished_at"]
        if status == self.Status.SENT:
            self.attempts += 1
            self.response_status = response_status
            fields += ["attempts", "response_status"]
        self.save(update_fields=fields)
