"""Admin for the tools app: the ToolCall audit trail (read-only) and users' notes.

A ToolCall row is evidence of what a model asked for and what ran, so nobody, not even a
superuser, may add, change or delete one here. JSON fields are shown pretty-printed and
escaped inside ``<pre>``: the values came from a model and from tools, never trust them.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from tools.builtin.sandbox import sandbox_status
from tools.models import Note, ToolCall


def pretty_json(value: Any, *, sort_keys: bool = True) -> str:
    """JSON as people read it; the admin escapes it when it is shown."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys, default=str)


def pretty_html(value: Any, *, sort_keys: bool = True) -> str:
    if value is None:
        return "—"
    return format_html('<pre class="toolgate-pre">{}</pre>',  # css/admin.css
                       pretty_json(value, sort_keys=sort_keys))


def _pretty(value: Any) -> str:
    return pretty_html(value, sort_keys=False)  # a tool's own key order is part of its result


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are evidence (tool calls, audit events, approval requests): nobody,
    not even a superuser, adds, changes or deletes them through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tool_name", "username", "status", "error_type", "duration_ms")
    list_filter = ("status", "tool_name", "risk", "created_at")
    search_fields = ("tool_name", "call_id", "username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    fields = (
        "call_id", "tool_name", "risk", "user", "username", "status", "error_type",
        "gate_action", "gate_rule", "gate_reason", "raw_arguments", "pretty_arguments",
        "pretty_result", "pretty_error", "attempts", "cached", "truncated", "fallback_tool",
        "pretty_scope", "idempotency_key", "created_at", "started_at", "finished_at", "duration_ms",
    )
    readonly_fields = fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The list says which mode run_python's sandbox runs in here (docs/security.md)."""
        return super().changelist_view(request, {**(extra_context or {}), "sandbox": sandbox_status()})

    @admin.display(description="arguments")
    def pretty_arguments(self, obj: ToolCall) -> str:
        return _pretty(obj.arguments)

    @admin.display(description="result")
    def pretty_result(self, obj: ToolCall) -> str:
        return _pretty(obj.result)

    @admin.display(description="error")
    def pretty_error(self, obj: ToolCall) -> str:
        return _pretty(obj.error)

    @admin.display(description="scope")
    def pretty_scope(self, obj: ToolCall) -> str:
        return _pretty(obj.scope)


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "short_text")
    list_filter = ("created_at",)
    search_fields = ("text", "owner__username")
    raw_id_fields = ("owner",)

    @admin.display(description="text")
    def short_text(self, obj: Note) -> str:
        return str(obj)
