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
        RUNNING = "running", gettext_lazy("Running")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        INVALID = "invalid", gettext_lazy("Invalid")  # no valid output after the corrections allowed
        REFUSED = "refused", gettext_lazy("Refused")  # the model refused (OpenAI's refusal field)
        FAILED = "failed", gettext_lazy("Failed")  # the provider failed (error_code says how)

    class Source(models.TextChoices):
        API = "api", gettext_lazy("API")
        COMMAND = "command", gettext_lazy("Command")
        SERVICE = "service", gettext_lazy("Service")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          verbose_name=gettext_lazy("id"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="extractions", verbose_name=gettext_lazy("user"))
    source = dbfields.CharField(max_length=10, choices=Source.choices, default=Source.SERVICE,
                                verbose_name=gettext_lazy("source"))
    schema_name = dbfields.CharField(max_length=64, help_text=gettext_lazy(
        "The schema's name (registered or given)."), verbose_name=gettext_lazy("schema name"))
    schema_registered = models.BooleanField(default=False, help_text=gettext_lazy(
        "Named in EXTRACTION_SCHEMAS."), verbose_name=gettext_lazy("schema registered"))
    schema_hash = dbfields.CharField(max_length=64, help_text=gettext_lazy(
        "sha256 of the canonical JSON Schema."), verbose_name=gettext_lazy("schema hash"))
    schema = dbfields.JSONField(help_text=gettext_lazy("The JSON Schema the output was validated against."),
                                verbose_name=gettext_lazy("schema"))
    profile = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("profile"))
    provider = dbfields.CharField(max_length=40, verbose_name=gettext_lazy("provider"))
    model = dbfields.CharField(max_length=200, verbose_name=gettext_lazy("model"))
    mode = dbfields.CharField(max_length=20, help_text=gettext_lazy(
        "How JSON was asked for: json_schema_strict, json_object, tool or prompt."),
                              verbose_name=gettext_lazy("mode"))
    status = dbfields.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True,
                                verbose_name=gettext_lazy("status"))
    attempts = models.PositiveSmallIntegerField(default=0, help_text=gettext_lazy(
        "Model calls made (1 + corrections)."), verbose_name=gettext_lazy("attempts"))
    input_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("input tokens"))
    output_tokens = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("output tokens"))
    text_chars = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("text chars"))
    text_sha256 = dbfields.CharField(max_length=64, verbose_name=gettext_lazy("text sha256"))
    result = dbfields.JSONField(null=True, blank=True, verbose_name=gettext_lazy("result"))
    last_output = dbfields.TextField(blank=True, help_text=gettext_lazy(
        "The model's last answer when it never validated, or its refusal."),
                                     verbose_name=gettext_lazy("last output"))
    errors = dbfields.JSONField(default=list, blank=True,
                              help_text=gettext_lazy("The validation problems of the last output."),
                                verbose_name=gettext_lazy("errors"))
    error_code = dbfields.CharField(max_length=40, blank=True, verbose_name=gettext_lazy("error code"))
    error = dbfields.TextField(blank=True, verbose_name=gettext_lazy("error"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=gettext_lazy("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="extraction_user_day")]
        verbose_name = gettext_lazy("extraction")
        verbose_name_plural = gettext_lazy("extractions")

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
