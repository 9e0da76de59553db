"""Every extraction, recorded: who asked, which schema and model, what it cost, how it ended.

One row per call of :func:`assistant.extraction.service.aextract`, written when it starts
(``running``) and completed when it ends, so a crash leaves a trace rather than nothing.
The input text itself is not kept (it may be anything the caller had); its length and
digest are, and so is the last output the model gave when it never validated.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tools import dbfields


class Extraction(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        INVALID = "invalid"  # no valid output after the corrections allowed
        REFUSED = "refused"  # the model refused (OpenAI's refusal field)
        FAILED = "failed"  # the provider failed (error_code says how)

    class Source(models.TextChoices):
        API = "api"
        COMMAND = "command"
        SERVICE = "service"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="extractions")
    source = dbfields.CharField(max_length=10, choices=Source.choices, default=Source.SERVICE)
    schema_name = dbfields.CharField(max_length=64, help_text=gettext_lazy(
        "The schema's name (registered or given)."))
    schema_registered = models.BooleanField(default=False, help_text=gettext_lazy(
        "Named in EXTRACTION_SCHEMAS."))
    schema_hash = dbfields.CharField(max_length=64, help_text=gettext_lazy(
        "sha256 of the canonical JSON Schema."))
    schema = dbfields.JSONField(help_text=gettext_lazy("The JSON Schema the output was validated against."))
    profile = dbfields.CharField(max_length=64)
    provider = dbfields.CharField(max_length=40)
    model = dbfields.CharField(max_length=200)
    mode = dbfields.CharField(max_length=20, help_text=gettext_lazy(
        "How JSON was asked for: json_schema_strict, json_object, tool or prompt."))
    status = dbfields.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text=gettext_lazy(
        "Model calls made (1 + corrections)."))
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    text_chars = models.PositiveIntegerField(default=0)
    text_sha256 = dbfields.CharField(max_length=64)
    result = dbfields.JSONField(null=True, blank=True)
    last_output = dbfields.TextField(blank=True, help_text=gettext_lazy(
        "The model's last answer when it never validated, or its refusal."))
    errors = dbfields.JSONField(default=list, blank=True,
                              help_text=gettext_lazy("The validation problems of the last output."))
    error_code = dbfields.CharField(max_length=40, blank=True)
    error = dbfields.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="extraction_user_day")]

    def __str__(self) -> str:
        return f"{self.schema_name} via {self.profile} ({self.status})"

    def finish(self, status: str, **changes: object) -> None:
        """Close the record (it is only ever closed once: ``running`` → an outcome)."""
        changes.update(status=status, finished_at=timezone.now())
        updated = Extraction.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**changes)
        if updated != 1:
            raise RuntimeError(f"extraction {self.pk} was already finished")
        for key, value in changes.items():
            setattr(self, key, value)
