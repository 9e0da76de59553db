"""Admin for the tools app: the ToolCall audit trail (read-only), MCP servers, users' notes.

A ToolCall row is evidence of what a model asked for and what ran, so nobody, not even a
superuser, may add, change or delete one here. JSON fields are shown pretty-printed and
escaped inside ``<pre>``: the values came from a model and from tools, never trust them.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import F
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext

from tools.builtin.sandbox import sandbox_status
from tools.models import McpServer, Note, ToolCall
from tools.signals import config_changed


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

    @admin.display(description=gettext_lazy("arguments"))
    def pretty_arguments(self, obj: ToolCall) -> str:
        return _pretty(obj.arguments)

    @admin.display(description=gettext_lazy("result"))
    def pretty_result(self, obj: ToolCall) -> str:
        return _pretty(obj.result)

    @admin.display(description=gettext_lazy("error"))
    def pretty_error(self, obj: ToolCall) -> str:
        return _pretty(obj.error)

    @admin.display(description=gettext_lazy("scope"))
    def pretty_scope(self, obj: ToolCall) -> str:
        return _pretty(obj.scope)


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "short_text")
    list_filter = ("created_at",)
    search_fields = ("text", "owner__username")
    raw_id_fields = ("owner",)

    @admin.display(description=gettext_lazy("text"))
    def short_text(self, obj: Note) -> str:
        return str(obj)


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    """MCP servers: configuration, and each server's state as the last process saw it.

    Every change is sent as ``tools.signals.config_changed`` (approvals audits it). Secrets
    never go in here: name the environment variables that hold them.
    """

    list_display = ("name", "transport", "target", "enabled", "state", "tool_count", "last_contact",
                    "short_error")
    list_filter = ("enabled", "transport", "state")
    search_fields = ("name", "command", "url")
    filter_horizontal = ("allowed_groups",)
    readonly_fields = ("state", "tool_count", "last_contact", "last_error", "pretty_catalog", "generation")
    fieldsets = (
        (None, {"fields": ("name", "transport", "enabled", "allowed_groups", "call_timeout",
                           "default_risk")}),
        (gettext_lazy("stdio (a local command)"), {"fields": ("command", "args", "env_vars")}),
        (gettext_lazy("Streamable HTTP (a URL)"), {"fields": ("url", "headers")}),
        (gettext_lazy("State"), {"fields": readonly_fields}),
    )
    actions = ["refresh"]

    @admin.display(description=gettext_lazy("command or URL"))
    def target(self, obj: McpServer) -> str:
        return obj.url or " ".join([obj.command, *obj.args])

    @admin.display(description=gettext_lazy("last error"))
    def short_error(self, obj: McpServer) -> str:
        return (obj.last_error or "")[:120]

    @admin.display(description=gettext_lazy("tools at the last discovery"))
    def pretty_catalog(self, obj: McpServer) -> str:
        return pretty_html(obj.catalog, sort_keys=False)

    @admin.action(description=gettext_lazy("Reconnect in every process and discover the tools again"))
    def refresh(self, request: HttpRequest, queryset: Any) -> None:
        updated = queryset.update(generation=F("generation") + 1)
        self.message_user(request, ngettext("%(count)d server will be reconnected.",
                                            "%(count)d servers will be reconnected.", updated)
                          % {"count": updated})

    def save_model(self, request: HttpRequest, obj: McpServer, form: Any, change: bool) -> None:
        self._changes = {n: [form.initial.get(n), form.cleaned_data.get(n)] for n in form.changed_data}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        config_changed.send(McpServer, actor=request.user.get_username(), instance=form.instance,
                            action="changed" if change else "created", changes=getattr(self, "_changes", {}))

    def delete_model(self, request: HttpRequest, obj: McpServer) -> None:
        config_changed.send(McpServer, actor=request.user.get_username(), instance=obj, action="deleted",
                            changes={})
        super().delete_model(request, obj)
