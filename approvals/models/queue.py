"""The approval queue: one request per parked tool call, decided once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tools import dbfields


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        APPROVED = "approved", gettext_lazy("Approved")
        DENIED = "denied", gettext_lazy("Denied")
        EXPIRED = "expired", gettext_lazy("Expired")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    tool_call = models.OneToOneField("tools.ToolCall", on_delete=models.PROTECT, related_name="approval",
                                     verbose_name=gettext_lazy("tool call"))
    tool_name = dbfields.CharField(max_length=64, db_index=True, verbose_name=gettext_lazy("tool name"))
    arguments = dbfields.JSONField(help_text=gettext_lazy("The arguments as the model sent them (redacted)."),
                                   verbose_name=gettext_lazy("arguments"))
    edited_arguments = dbfields.JSONField(null=True, blank=True, help_text=gettext_lazy(
        "What the approver changed them to."), verbose_name=gettext_lazy("edited arguments"))
    risk = dbfields.CharField(max_length=10, verbose_name=gettext_lazy("risk"))
    rule = dbfields.CharField(max_length=200, help_text=gettext_lazy("What made this call need approval."),
                              verbose_name=gettext_lazy("rule"))
    reason_required = dbfields.TextField(blank=True, verbose_name=gettext_lazy("reason required"))
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                  related_name="approval_requests", verbose_name=gettext_lazy("requester"))
    conversation_id = dbfields.CharField(max_length=64, blank=True, db_index=True,
                                         verbose_name=gettext_lazy("conversation id"))
    run_id = dbfields.CharField(max_length=64, blank=True, verbose_name=gettext_lazy("run id"))
    status = dbfields.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True,
                                verbose_name=gettext_lazy("status"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("created at"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=gettext_lazy("expires at"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="approval_decisions",
                                   verbose_name=gettext_lazy("decided by"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("decided at"))
    reason = dbfields.TextField(blank=True, help_text=gettext_lazy(
        "The approver's reason (required to deny)."), verbose_name=gettext_lazy("reason"))
    executed_at = models.DateTimeField(null=True, blank=True,
                                       help_text=gettext_lazy(
                                           "When the approved call was handed to a worker."),
                                       verbose_name=gettext_lazy("executed at"))
    reminded_at = models.DateTimeField(null=True, blank=True,
                                       help_text=gettext_lazy(
                                           "When approvers were reminded that it will expire soon."),
                                       verbose_name=gettext_lazy("reminded at"))

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide", "Can approve or deny tool calls")]
        verbose_name = gettext_lazy("approval request")
        verbose_name_plural = gettext_lazy("approval requests")

    def __str__(self) -> str:
        return f"{self.tool_name} #{self.pk} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def source(self) -> str:
        """Where the call came from: the chat, the REST API, or an MCP client (its name and
        version, and the token's name and prefix). Always in English: webhooks send it as a
        field that programs read (approvals/notifications.py); approvers read
        :attr:`source_label`."""
        with translation.override("en"):
            return self._describe_source() or "unknown"

    @property
    def source_label(self) -> str:
        """:attr:`source` in the approver's language, or why there is none (a call made outside
        any conversation before sources were recorded)."""
        return self._describe_source() or _("not recorded (no conversation)")

    def _describe_source(self) -> str:
        scope = self.tool_call.scope or {}
        origin = str(scope.get("source") or ("chat" if scope.get("conversation") else ""))
        if origin == "mcp":
            mcp = scope.get("mcp") or {}
            client = mcp.get("client") or {}
            name = " ".join(str(client.get(k) or "") for k in ("name", "version")).strip()
            token, prefix = str(mcp.get("token_name") or ""), str(mcp.get("token_prefix") or "")
            words = _("%(client)s with %(token)s") % {
                "client": _("MCP client “%(name)s”") % {"name": name} if name else _("an unnamed MCP client"),
                "token": _("token “%(name)s”") % {"name": token} if token else _("an unnamed token")}
            return f"{words} ({prefix}…)" if prefix else words
        return {"api": _("REST API"), "chat": _("chat")}.get(origin, origin)

    @property
    def rule_in_words(self) -> str:
        """Why it waits, as an approver reads it: "send_email: recipient outside example.com"."""
        # The built-in rules in the approver's language (their stored reason is English, for the
        # model); a policy rule's reason is the administrator's own words.
        if self.rule.startswith("risk:"):
            return _("%(tool)s: a %(risk)s-risk tool") % {"tool": self.tool_name,
                                                         "risk": self.rule.removeprefix("risk:")}
        if self.rule == "policy:always":
            return _("%(tool)s: an administrator requires approval for every call") % {"tool": self.tool_name}
        if self.reason_required:
            return f"{self.tool_name}: {self.reason_required}"
        return f"{self.tool_name}: {self.rule}"

    def effective_arguments(self) -> Any:
        return self.edited_arguments if self.edited_arguments is not None else self.arguments

    def claim_decision(self, to_status: str, **changes: Any) -> bool:
        """pending → decided, as a conditional update that must change exactly this row.

        Two approvers clicking at once, or a decision racing the expiry job: one wins, the
        other is told the request was already decided.
        """
        changes.setdefault("decided_at", timezone.now())
        updated = ApprovalRequest.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=to_status, **changes)
        if updated == 1:
            self.status = to_status
            for key, value in changes.items():
                setattr(self, key, value)
        return updated == 1
