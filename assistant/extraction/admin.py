"""Extractions in the admin: read-only, a record of what was asked and how it ended."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from assistant.extraction.models import Extraction


@admin.register(Extraction)
class ExtractionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "schema_name", "profile", "model", "mode", "status", "attempts",
                    "input_tokens", "output_tokens")
    list_filter = ("status", "source", "mode", "profile", "schema_registered")
    search_fields = ("schema_name", "schema_hash", "user__username", "model", "error")
    date_hierarchy = "created_at"
    fields = ("id", "created_at", "finished_at", "user", "source", "status", "schema_name",
              "schema_registered",
              "schema_hash", "schema", "profile", "provider", "model", "mode", "attempts", "input_tokens",
              "output_tokens", "text_chars", "text_sha256", "result", "last_output", "errors", "error_code",
              "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what was asked, and what it cost, stays

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")
