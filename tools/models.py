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
        REJECTED = "rejected", gettext_lazy("Rejected before running")
        PENDING = "pending", gettext_lazy("Waiting for approval")
        DENIED = "denied", gettext_lazy("Denied")
        RUNNING = "running", gettext_lazy("Running")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")

    TERMINAL = (Status.REJECTED, Status.DENIED, Status.SUCCEEDED, Status.FAILED)

    call_id = dbfields.CharField(max_length=128, help_text=gettext_lazy("The provider's id for this call."),
                                 verbose_name=gettext_lazy("call id"))
    idempotency_key = dbfields.CharField(max_length=255, null=True, blank=True, unique=True,
                                         verbose_name=gettext_lazy("idempotency key"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tool_calls",
        verbose_name=gettext_lazy("user"))
    username = dbfields.CharField(max_length=150, blank=True, help_text=gettext_lazy(
        "Kept if the user is deleted."), verbose_name=gettext_lazy("username"))
    tool_name = dbfields.CharField(max_length=64, db_index=True, verbose_name=gettext_lazy("tool name"))
    risk = dbfields.CharField(max_length=10, blank=True, verbose_name=gettext_lazy("risk"))
    raw_arguments = dbfields.TextField(blank=True, verbose_name=gettext_lazy("raw arguments"))
    arguments = dbfields.JSONField(null=True, blank=True, help_text=gettext_lazy(
        "Validated arguments, redacted."), verbose_name=gettext_lazy("arguments"))
    pending_arguments = dbfields.JSONField(
        null=True, blank=True, editable=False,
        help_text=gettext_lazy(
            "The unredacted arguments of a call waiting for approval, so that approving it runs what "
            "was asked; cleared as soon as the call is run, denied or fails."),
        verbose_name=gettext_lazy("pending arguments"))
    status = dbfields.CharField(max_length=10, choices=Status.choices, db_index=True,
                                verbose_name=gettext_lazy("status"))
    result = dbfields.JSONField(null=True, blank=True, verbose_name=gettext_lazy("result"))
    error = dbfields.JSONField(null=True, blank=True, verbose_name=gettext_lazy("error"))
    error_type = dbfields.CharField(max_length=32, blank=True, verbose_name=gettext_lazy("error type"))
    gate_action = dbfields.CharField(max_length=20, blank=True, verbose_name=gettext_lazy("gate action"))
    gate_rule = dbfields.CharField(max_length=200, blank=True, verbose_name=gettext_lazy("gate rule"))
    gate_reason = dbfields.TextField(blank=True, verbose_name=gettext_lazy("gate reason"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("attempts"))
    cached = models.BooleanField(default=False, verbose_name=gettext_lazy("cached"))
    truncated = models.BooleanField(default=False, verbose_name=gettext_lazy("truncated"))
    fallback_tool = dbfields.CharField(max_length=64, blank=True,
                                       verbose_name=gettext_lazy("fallback tool"))
    scope = dbfields.JSONField(default=dict, blank=True, verbose_name=gettext_lazy("scope"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))
    duration_ms = models.FloatField(null=True, blank=True, verbose_name=gettext_lazy("duration ms"))

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        verbose_name = gettext_lazy("tool call")
        verbose_name_plural = gettext_lazy("tool calls")

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
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes",
                              verbose_name=gettext_lazy("owner"))
    text = dbfields.TextField(verbose_name=gettext_lazy("text"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=gettext_lazy("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("note")
        verbose_name_plural = gettext_lazy("notes")

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
        STDIO = "stdio", gettext_lazy("stdio (a local command)")
        HTTP = "http", gettext_lazy("Streamable HTTP (a URL)")

    class Risk(models.TextChoices):
        FROM_ANNOTATIONS = "", gettext_lazy("From the server's annotations (see docs/mcp.md)")
        LOW = "low", gettext_lazy("Low")
        MEDIUM = "medium", gettext_lazy("Medium")
        HIGH = "high", gettext_lazy("High (needs approval)")

    class State(models.TextChoices):
        NEW = "new", gettext_lazy("Not contacted yet")
        CONNECTING = "connecting", gettext_lazy("Connecting")
        CONNECTED = "connected", gettext_lazy("Connected")
        DISCONNECTED = "disconnected", gettext_lazy("Disconnected (retrying)")
        DISABLED = "disabled", gettext_lazy("Disabled")

    name = dbfields.CharField(
        max_length=30, unique=True,
        help_text=gettext_lazy("Its tools are offered as NAME__tool: letters, digits, '-' and single '_'."),
        verbose_name=gettext_lazy("name"))
    transport = dbfields.CharField(max_length=10, choices=Transport.choices, default=Transport.STDIO,
                                   verbose_name=gettext_lazy("transport"))
    command = dbfields.CharField(max_length=500, blank=True, help_text=gettext_lazy(
        "stdio: the executable to run."), verbose_name=gettext_lazy("command"))
    args = dbfields.JSONField(default=list, blank=True,
                            help_text=gettext_lazy("stdio: its arguments, a JSON list of strings."),
                              verbose_name=gettext_lazy("args"))
    url = dbfields.CharField(max_length=2000, blank=True, help_text=gettext_lazy(
        "Streamable HTTP: the endpoint URL."), verbose_name=gettext_lazy("url"))
    env_vars = dbfields.JSONField(
        default=list, blank=True,
        help_text=gettext_lazy(
            "stdio: names of environment variables passed to the server (values are never stored)."),
        verbose_name=gettext_lazy("env vars"))
    headers = dbfields.JSONField(
        default=dict, blank=True,
        help_text=gettext_lazy('HTTP: header name → name of the environment variable holding its value, '
                  'e.g. {"Authorization": "GITHUB_AUTH"}.'),
        verbose_name=gettext_lazy("headers"))
    enabled = models.BooleanField(default=True, verbose_name=gettext_lazy("enabled"))
    allowed_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="mcp_servers",
        help_text=gettext_lazy(
            "If any are chosen, only members of these groups see and may use this server's tools."),
        verbose_name=gettext_lazy("allowed groups"))
    call_timeout = models.FloatField(default=30.0, help_text=gettext_lazy(
        "Seconds before a call is cancelled."), verbose_name=gettext_lazy("call timeout"))
    default_risk = dbfields.CharField(
        max_length=10, choices=Risk.choices, blank=True, default=Risk.FROM_ANNOTATIONS,
        help_text=gettext_lazy(
            "Risk of every tool of this server; blank takes it from the server's (untrusted) hints."),
        verbose_name=gettext_lazy("default risk"))
    generation = models.PositiveIntegerField(
        default=0, editable=False, help_text=gettext_lazy(
            "Bumped by 'mcp refresh': every process reconnects."), verbose_name=gettext_lazy("generation"))
    state = dbfields.CharField(max_length=12, choices=State.choices, default=State.NEW, editable=False,
                               verbose_name=gettext_lazy("state"))
    tool_count = models.PositiveIntegerField(default=0, editable=False,
                                             verbose_name=gettext_lazy("tool count"))
    last_error = dbfields.TextField(blank=True, editable=False, verbose_name=gettext_lazy("last error"))
    last_contact = models.DateTimeField(null=True, blank=True, editable=False,
                                        verbose_name=gettext_lazy("last contact"))
    catalog = dbfields.JSONField(
        default=list, blank=True, editable=False,
        help_text=gettext_lazy(
            "The tools found at the last discovery: name, registered name, risk or why refused."),
        verbose_name=gettext_lazy("catalog"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=gettext_lazy("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        ordering = ["name"]
        verbose_name = gettext_lazy("MCP server")
        verbose_name_plural = gettext_lazy("MCP servers")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            spec_from_server(self, group_ids=frozenset())
        except SpecError as exc:
            raise ValidationError({exc.field or "__all__": str(exc)}) from None
