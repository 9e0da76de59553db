"""Durable records of the tools app: every tool call, and the notes the notes tools keep."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields
from tools.mcp.spec import SpecError, spec_from_server


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

    call_id = dbfields.CharField(max_length=128, help_text=gettext_lazy("The provider's id for this call."))
    idempotency_key = dbfields.CharField(max_length=255, null=True, blank=True, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tool_calls",
    )
    username = dbfields.CharField(max_length=150, blank=True, help_text=gettext_lazy(
        "Kept if the user is deleted."))
    tool_name = dbfields.CharField(max_length=64, db_index=True)
    risk = dbfields.CharField(max_length=10, blank=True)
    raw_arguments = dbfields.TextField(blank=True)
    arguments = dbfields.JSONField(null=True, blank=True, help_text=gettext_lazy(
        "Validated arguments, redacted."))
    pending_arguments = dbfields.JSONField(
        null=True, blank=True, editable=False,
        help_text=gettext_lazy(
            "The unredacted arguments of a call waiting for approval, so that approving it runs what "
            "was asked; cleared as soon as the call is run, denied or fails."),
    )
    status = dbfields.CharField(max_length=10, choices=Status.choices, db_index=True)
    result = dbfields.JSONField(null=True, blank=True)
    error = dbfields.JSONField(null=True, blank=True)
    error_type = dbfields.CharField(max_length=32, blank=True)
    gate_action = dbfields.CharField(max_length=20, blank=True)
    gate_rule = dbfields.CharField(max_length=200, blank=True)
    gate_reason = dbfields.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cached = models.BooleanField(default=False)
    truncated = models.BooleanField(default=False)
    fallback_tool = dbfields.CharField(max_length=64, blank=True)
    scope = dbfields.JSONField(default=dict, blank=True)
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
    text = dbfields.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:60]


class McpServer(models.Model):
    """An MCP server whose tools Toolgate offers, under its own policy, approval and audit.

    Configuration only: secrets are never stored here. A stdio server is given the
    *names* of environment variables to pass (their values are read from Toolgate's own
    environment when the server starts); an HTTP server's headers name the environment
    variable that holds each value. The state fields are written by whichever process
    last talked to the server (each process holds its own sessions).
    """

    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio (a local command)"
        HTTP = "http", "Streamable HTTP (a URL)"

    class Risk(models.TextChoices):
        FROM_ANNOTATIONS = "", "From the server's annotations (see docs/mcp.md)"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High (needs approval)"

    class State(models.TextChoices):
        NEW = "new", "Not contacted yet"
        CONNECTING = "connecting", "Connecting"
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected (retrying)"
        DISABLED = "disabled", "Disabled"

    name = dbfields.CharField(
        max_length=30, unique=True,
        help_text=gettext_lazy("Its tools are offered as NAME__tool: letters, digits, '-' and single '_'."),
    )
    transport = dbfields.CharField(max_length=10, choices=Transport.choices, default=Transport.STDIO)
    command = dbfields.CharField(max_length=500, blank=True, help_text=gettext_lazy(
        "stdio: the executable to run."))
    args = dbfields.JSONField(default=list, blank=True,
                            help_text=gettext_lazy("stdio: its arguments, a JSON list of strings."))
    url = dbfields.CharField(max_length=2000, blank=True, help_text=gettext_lazy(
        "Streamable HTTP: the endpoint URL."))
    env_vars = dbfields.JSONField(
        default=list, blank=True,
        help_text=gettext_lazy(
            "stdio: names of environment variables passed to the server (values are never stored)."),
    )
    headers = dbfields.JSONField(
        default=dict, blank=True,
        help_text='HTTP: header name → name of the environment variable holding its value, '
                  'e.g. {"Authorization": "GITHUB_AUTH"}.',
    )
    enabled = models.BooleanField(default=True)
    allowed_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="mcp_servers",
        help_text=gettext_lazy(
            "If any are chosen, only members of these groups see and may use this server's tools."),
    )
    call_timeout = models.FloatField(default=30.0, help_text=gettext_lazy(
        "Seconds before a call is cancelled."))
    default_risk = dbfields.CharField(
        max_length=10, choices=Risk.choices, blank=True, default=Risk.FROM_ANNOTATIONS,
        help_text=gettext_lazy(
            "Risk of every tool of this server; blank takes it from the server's (untrusted) hints."),
    )
    generation = models.PositiveIntegerField(
        default=0, editable=False, help_text=gettext_lazy(
            "Bumped by 'mcp refresh': every process reconnects."))
    state = dbfields.CharField(max_length=12, choices=State.choices, default=State.NEW, editable=False)
    tool_count = models.PositiveIntegerField(default=0, editable=False)
    last_error = dbfields.TextField(blank=True, editable=False)
    last_contact = models.DateTimeField(null=True, blank=True, editable=False)
    catalog = dbfields.JSONField(
        default=list, blank=True, editable=False,
        help_text=gettext_lazy(
            "The tools found at the last discovery: name, registered name, risk or why refused."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            spec_from_server(self, group_ids=frozenset())
        except SpecError as exc:
            raise ValidationError({exc.field or "__all__": str(exc)}) from None
