"""Durable records of the tools app: every tool call, and the notes the notes tools keep."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class ToolCall(models.Model):
    """One call of one tool: what was asked, what was decided, what happened.

    This is the seed of the audit trail: rows are created before a tool runs, so a crash
    mid-execution still leaves a record, and are finished exactly once.
    """

    class Status(models.TextChoices):
        REJECTED = "rejected", "Rejected before running"
        PENDING = "pending", "Waiting for approval"
        DENIED = "denied", "Denied"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    TERMINAL = (Status.REJECTED, Status.DENIED, Status.SUCCEEDED, Status.FAILED)

    call_id = models.CharField(max_length=128, help_text="The provider's id for this call.")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tool_calls",
    )
    username = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    tool_name = models.CharField(max_length=64, db_index=True)
    risk = models.CharField(max_length=10, blank=True)
    raw_arguments = models.TextField(blank=True)
    arguments = models.JSONField(null=True, blank=True, help_text="Validated arguments, redacted.")
    pending_arguments = models.JSONField(
        null=True, blank=True, editable=False,
        help_text="The unredacted arguments of a call waiting for approval, so that approving it "
                  "runs what was asked; cleared as soon as the call is run, denied or fails.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    error_type = models.CharField(max_length=32, blank=True)
    gate_action = models.CharField(max_length=20, blank=True)
    gate_rule = models.CharField(max_length=200, blank=True)
    gate_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cached = models.BooleanField(default=False)
    truncated = models.BooleanField(default=False)
    fallback_tool = models.CharField(max_length=64, blank=True)
    scope = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.call_id or self.pk}) {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def claim(self, from_status: str, to_status: str, **changes: Any) -> bool:
        """Move this call from one status to another only if nobody else did first.

        A conditional ``update()`` that must change exactly one row: two workers racing to
        run the same approved call cannot both win.
        """
        updated = ToolCall.objects.filter(pk=self.pk, status=from_status).update(
            status=to_status, **changes
        )
        if updated == 1:
            self.status = to_status
            for key, value in changes.items():
                setattr(self, key, value)
        return updated == 1


class Note(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:60]
