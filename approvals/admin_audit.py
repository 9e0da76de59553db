"""The audit log in the Django admin: a read-only list, each event, and a conversation's
timeline.

Events are evidence, so nobody — not even a superuser — may add, change or delete one
here (the model refuses too). Data came from models, tools and users: it is shown
pretty-printed, always escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from approvals.models import AuditEvent
from tools.admin import ReadOnlyAdmin, pretty_html, pretty_json

TIMELINE_URL = "admin:approvals_auditevent_timeline"


@dataclass
class CallGroup:
    """One tool call's events in a timeline (or the events that belong to no call)."""

    tool_call_id: int | None
    tool_name: str = ""
    username: str = ""
    events: list[AuditEvent] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """The last thing that happened to the call, e.g. ``call.succeeded``."""
        return self.events[-1].kind if self.events else ""


def group_by_call(events: list[AuditEvent]) -> list[CallGroup]:
    """Events grouped by tool call, groups in the order their first event was recorded."""
    groups: dict[int | None, CallGroup] = {}
    for event in events:
        group = groups.get(event.tool_call_id)
        if group is None:
            group = CallGroup(event.tool_call_id, event.tool_name, event.username)
            groups[event.tool_call_id] = group
        group.events.append(event)
    return list(groups.values())


class UserFilter(admin.SimpleListFilter):
    """Events about (or by) a user, chosen from the accounts, not from a scan of the log.

    Events keep the username of a deleted account; search finds those.
    """

    title = gettext_lazy("user")
    parameter_name = "username"
    limit = 200

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = get_user_model().objects.order_by("username").values_list("username", flat=True)
        return [(name, name) for name in names[: self.limit]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(Q(username=value) | Q(actor=value)) if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "kind", "tool_name", "username", "actor", "outcome",
                    "conversation", "tool_call")
    list_display_links = ("seq", "kind")
    list_filter = ("kind", "outcome", "tool_name", UserFilter, "created_at")
    search_fields = ("kind", "tool_name", "username", "actor", "outcome", "conversation_id", "=tool_call_id")
    date_hierarchy = "created_at"
    ordering = ("-seq",)
    list_per_page = 100
    actions = None
    show_full_result_count = False  # a count of a large log costs a full scan on every page
    fields = ("seq", "created_at", "kind", "outcome", "tool_name", "tool_call", "username", "user_id",
              "actor", "conversation", "pretty_data", "prev_hash", "hash")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("data"))
    def pretty_data(self, obj: AuditEvent) -> str:
        return pretty_html(obj.data)

    @admin.display(description=gettext_lazy("conversation"), ordering="conversation_id")
    def conversation(self, obj: AuditEvent) -> str:
        if not obj.conversation_id:
            return "—"
        return format_html('<a href="{}" title="timeline of this conversation">{}</a>',
                           reverse(TIMELINE_URL, args=[obj.conversation_id]), obj.conversation_id[:8])

    @admin.display(description=gettext_lazy("tool call"), ordering="tool_call_id")
    def tool_call(self, obj: AuditEvent) -> str:
        if obj.tool_call_id is None:
            return "—"
        url = reverse("admin:approvals_auditevent_changelist")
        return format_html('<a href="{}?tool_call_id={}" title="every event of this call">#{}</a>',
                           url, obj.tool_call_id, obj.tool_call_id)

    def get_urls(self) -> list[URLPattern]:
        timeline = path("timeline/<str:conversation_id>/", self.admin_site.admin_view(self.timeline_view),
                        name="approvals_auditevent_timeline")
        return [timeline, *super().get_urls()]

    def timeline_view(self, request: HttpRequest, conversation_id: str) -> TemplateResponse:
        """Everything recorded about one conversation, in order, one box per tool call."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = list(AuditEvent.objects.filter(conversation_id=conversation_id).order_by("seq"))
        for event in rows:
            event.pretty = pretty_json(event.data)  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Audit timeline of conversation {conversation_id}",
            "conversation_id": conversation_id,
            "groups": group_by_call(rows),
            "event_count": len(rows),
            "changelist_url": reverse("admin:approvals_auditevent_changelist"),
        }
        return TemplateResponse(request, "admin/approvals/auditevent/timeline.html", context)
