"""Conversations, their messages and runs: our own schema, not a provider's.

A *run* is one answer to one user message: it may take several model turns and tool
rounds, may wait for approval, and ends ``completed``, ``failed`` or ``cancelled``. The
provider-format history is rebuilt from these rows (see assistant/runs/history.py), so the
database is the single source of truth for what the model was shown.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def owned_by(self, user: Any) -> ConversationQuerySet:
        """The only way views and consumers look conversations up: by owner."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          verbose_name=gettext_lazy("id"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="conversations", verbose_name=gettext_lazy("owner"))
    title = dbfields.CharField(max_length=200, blank=True, verbose_name=gettext_lazy("title"))
    profile = dbfields.CharField(max_length=64, help_text=gettext_lazy(
        "The model profile this conversation uses."), verbose_name=gettext_lazy("profile"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    updated_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("updated at"))
    last_seq = models.PositiveBigIntegerField(
        default=0, help_text=gettext_lazy("The last event sequence number stored at the end of a run."),
                                              verbose_name=gettext_lazy("last seq"))
    # Edit-and-resend, regenerate and retry branch into a new conversation (issue 14;
    # assistant/transcript/branches.py): the original stays as it was, linked both ways.
    branched_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="branches", verbose_name=gettext_lazy("branched from"))

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = gettext_lazy("conversation")
        verbose_name_plural = gettext_lazy("conversations")

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    @staticmethod
    def title_from(text: str, limit: int = 60) -> str:
        """A title from the first message: its first line, whitespace folded, cut at a word."""
        line = " ".join(text.strip().split("\n", 1)[0].split())
        if len(line) <= limit:
            return line or "New conversation"
        cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
        return cut.rstrip(" ,.;:") + "…"


class Run(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", gettext_lazy("Running")
        WAITING = "waiting", gettext_lazy("Waiting")
        COMPLETED = "completed", gettext_lazy("Completed")
        FAILED = "failed", gettext_lazy("Failed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          verbose_name=gettext_lazy("id"))
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="runs",
                                     verbose_name=gettext_lazy("conversation"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="runs", verbose_name=gettext_lazy("user"))
    status = dbfields.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING,
                              db_index=True, verbose_name=gettext_lazy("status"))
    profile = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("profile"))
    steps = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("steps"))
    max_steps = models.PositiveIntegerField(verbose_name=gettext_lazy("max steps"))
    error_code = dbfields.CharField(max_length=40, blank=True, verbose_name=gettext_lazy("error code"))
    error = dbfields.TextField(blank=True, verbose_name=gettext_lazy("error"))
    input_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("input tokens"))
    output_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("output tokens"))
    cancel_requested = models.BooleanField(default=False, verbose_name=gettext_lazy("cancel requested"))
    # The process driving the run (assistant/runs/driver.py): empty while nobody does (just
    # started, parked, or handed back by recovery); taken with a conditional update.
    driver = models.CharField(max_length=120, blank=True, default="", verbose_name=gettext_lazy("driver"))
    # How often recovery took the run from a driver that stopped (a crashed process): a run
    # that keeps killing its drivers is closed as interrupted after RUN_MAX_RECOVERIES.
    recoveries = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("recoveries"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("updated at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))

    ACTIVE = (Status.RUNNING, Status.WAITING)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one run per conversation is running or waiting: the database refuses a
            # second one even when two messages race, and starting a run needs no lookup.
            models.UniqueConstraint(fields=["conversation"], name="run_one_active_per_conversation",
                                    condition=models.Q(status__in=["running", "waiting"])),
        ]
        verbose_name = gettext_lazy("run")
        verbose_name_plural = gettext_lazy("runs")

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def claim(self, from_status: str, to_status: str, **changes: Any) -> bool:
        """Conditional status change that must change exactly this one row.

        Two processes resuming the same waiting run both try ``waiting → running``;
        exactly one succeeds and drives it.
        """
        changes["updated_at"] = timezone.now()
        updated = Run.objects.filter(pk=self.pk, status=from_status).update(status=to_status, **changes)
        if updated == 1:
            self.status = to_status
            for key, value in changes.items():
                setattr(self, key, value)
        return updated == 1


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", gettext_lazy("User")
        ASSISTANT = "assistant", gettext_lazy("Assistant")
        TOOL = "tool", gettext_lazy("Tool")

    class Status(models.TextChoices):
        COMPLETE = "complete", gettext_lazy("Complete")
        # the provider failed or the run was cancelled mid-stream
        INTERRUPTED = "interrupted", gettext_lazy("Interrupted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          verbose_name=gettext_lazy("id"))
    # No index of its own: the unique (conversation, position) index serves every lookup by
    # conversation, and one index fewer is one B-tree fewer to update on each message.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages",
                                     db_index=False, verbose_name=gettext_lazy("conversation"))
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages",
                            verbose_name=gettext_lazy("run"))
    position = models.PositiveIntegerField(verbose_name=gettext_lazy("position"))
    role = dbfields.CharField(max_length=10, choices=Role.choices, verbose_name=gettext_lazy("role"))
    content = dbfields.TextField(blank=True, verbose_name=gettext_lazy("content"))
    status = dbfields.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE,
                                verbose_name=gettext_lazy("status"))
    # Assistant turns: [{"id", "name", "arguments"}], arguments as the exact JSON text received.
    tool_calls = dbfields.JSONField(default=list, blank=True, verbose_name=gettext_lazy("tool calls"))
    # Tool turns: [{"call_id", "name", "content", "is_error"}], content as the JSON text sent.
    tool_results = dbfields.JSONField(default=list, blank=True, verbose_name=gettext_lazy("tool results"))
    input_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("input tokens"))
    output_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("output tokens"))
    provider_message_id = dbfields.CharField(max_length=200, blank=True,
                                             verbose_name=gettext_lazy("provider message id"))
    # An assistant turn: the tools the model was offered ({"selected": bool, "available": N,
    # "names": [...]}); "selected" when tool selection sent a subset (docs/tools.md).
    offered_tools = dbfields.JSONField(null=True, blank=True, verbose_name=gettext_lazy("offered tools"))
    # Assistant turns: what the adapter must be given back on later turns, by adapter name
    # (ProviderState events), e.g. {"openai_responses": {"response_id", "reasoning": [...]}}.
    provider_state = dbfields.JSONField(default=dict, blank=True,
                                        verbose_name=gettext_lazy("provider state"))
    # Assistant turns answered by a fallback: the profile that answered (blank: the run's own).
    profile = dbfields.CharField(max_length=64, blank=True, verbose_name=gettext_lazy("profile"))
    client_id = models.UUIDField(null=True, blank=True, verbose_name=gettext_lazy("client id"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    # User turns (issue 14): the files attached to it, [{"id", "name", "path", "size"}], kept
    # as they were when sent (the history names them to the model; assistant/attachments/).
    # Null when none: a nullable column is added in place, where a NOT NULL one would make
    # SQLite rebuild the table and drop the full-text search triggers (migration 0010).
    attachments = dbfields.JSONField(null=True, blank=True, verbose_name=gettext_lazy("attachments"))

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="message_position_unique"),
            models.UniqueConstraint(fields=["conversation", "client_id"], name="message_client_id_unique"),
        ]
        verbose_name = gettext_lazy("message")
        verbose_name_plural = gettext_lazy("messages")

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class RunToolCall(models.Model):
    """Links a run's tool call (by the provider's call id) to the tools app's record."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tool_call_links",
                            db_index=False, verbose_name=gettext_lazy("run"))
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_call_links",
                                verbose_name=gettext_lazy("message"))
    call_id = dbfields.CharField(max_length=128, verbose_name=gettext_lazy("call id"))
    index = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("index"))
    tool_call = models.OneToOneField("tools.ToolCall", on_delete=models.PROTECT, related_name="run_link",
                                     verbose_name=gettext_lazy("tool call"))

    class Meta:
        ordering = ["message", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "call_id"], name="run_call_id_unique"),
        ]
        verbose_name = gettext_lazy("run tool call")
        verbose_name_plural = gettext_lazy("run tool calls")

    def __str__(self) -> str:
        return f"{self.call_id} in run {self.run_id}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal API token (docs/api.md): the secret is shown once and stored only hashed.

    ``prefix`` is the token's first characters: not secret (too short to guess the rest
    from), it names the token in lists and narrows the lookup to one row before the hash is
    compared in constant time. Revoking keeps the row, so the list still says what existed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
                             verbose_name=gettext_lazy("user"))
    name = dbfields.CharField(max_length=100, help_text=gettext_lazy(
        "What the token is for, to recognise it later."), verbose_name=gettext_lazy("name"))
    prefix = dbfields.CharField(max_length=16, db_index=True, editable=False,
                                verbose_name=gettext_lazy("prefix"))
    token_hash = dbfields.CharField(max_length=64, unique=True, editable=False,
                                  help_text=gettext_lazy("SHA-256 of the secret, hex."),
                                    verbose_name=gettext_lazy("token hash"))
    read_only = models.BooleanField(default=False, help_text=gettext_lazy(
        "May only read: GET on the REST API; over MCP, only tools without side effects that "
        "never need approval."), verbose_name=gettext_lazy("read only"))
    mcp_only = models.BooleanField(default=False, help_text=gettext_lazy(
        "Works only at /mcp, not on the REST API."), verbose_name=gettext_lazy("mcp only"))
    allowed_tools = dbfields.JSONField(default=list, blank=True, help_text=gettext_lazy(
        "Names of the only tools this token may list and call over MCP; empty means every "
        "tool its owner may use."), verbose_name=gettext_lazy("allowed tools"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("revoked at"))

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("API token")
        verbose_name_plural = gettext_lazy("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows_tool(self, name: str) -> bool:
        """Whether this token's own tool list lets it use ``name`` (the owner's rights and,
        for a read-only token, the tool's effects are checked elsewhere)."""
        return not self.allowed_tools or name in self.allowed_tools


class UserBudget(models.Model):
    """One user's own daily token cap, in place of ``TOKEN_BUDGET_DAILY`` (assistant/ops/budgets.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="token_budget", verbose_name=gettext_lazy("user"))
    daily_tokens = models.PositiveBigIntegerField(
        help_text=gettext_lazy("Input + output tokens this user may use per day (UTC); 0 means unlimited."),
                                                  verbose_name=gettext_lazy("daily tokens"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("user token budget")
        verbose_name_plural = gettext_lazy("user token budgets")

    def __str__(self) -> str:
        limit = f"{self.daily_tokens:,} tokens/day" if self.daily_tokens else "unlimited"
        return f"{self.user} ({limit})"


class TokenUsage(Run):
    """Runs seen as token spending: the admin's read-only usage report (admin_usage.py)."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("token usage")
        verbose_name_plural = gettext_lazy("token usage")


class Preference(models.Model):
    """One user's interface choices, remembered across browsers (issue 14)."""

    class Theme(models.TextChoices):
        SYSTEM = "system", gettext_lazy("System")
        LIGHT = "light", gettext_lazy("Light")
        DARK = "dark", gettext_lazy("Dark")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference",
                                verbose_name=gettext_lazy("user"))
    theme = dbfields.CharField(max_length=6, choices=Theme.choices, default=Theme.SYSTEM,
                               verbose_name=gettext_lazy("theme"))
    demo_banner_dismissed = models.BooleanField(default=False,
                                                verbose_name=gettext_lazy("demo banner dismissed"))
    # A code from settings.LANGUAGES, or "" to follow the browser (docs/ui.md). No choices
    # here: adding a language is a settings change, not a migration.
    language = dbfields.CharField(max_length=16, blank=True, default="",
                                  verbose_name=gettext_lazy("language"))

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    @classmethod
    def of(cls, user: Any) -> Preference:
        """The user's preferences, or the defaults (unsaved) if they never chose anything."""
        if not getattr(user, "is_authenticated", False):
            return cls()
        found = cls.objects.filter(user=user).first()
        return found if found is not None else cls(user=user)


from assistant.attachments.models import Attachment  # noqa: E402,F401  (issue 14: registered with this app)
