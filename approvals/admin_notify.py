"""Notification deliveries (read-only evidence) and conversation scopes (revocable) in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from approvals import services
from approvals.models import ApprovalScope, NotificationDelivery
from tools.admin import ReadOnlyAdmin


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "approval", "channel", "target", "status", "attempts",
                    "response_status", "last_error")
    list_filter = ("status", "channel", "event")
    search_fields = ("target", "event", "approval__tool_name")
    list_select_related = ("approval",)
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]


@admin.register(ApprovalScope)
class ApprovalScopeAdmin(ReadOnlyAdmin):
    """Scopes are granted only by deciding a request; here they can only be revoked."""

    list_display = ("created_at", "tool_name", "conversation_id", "granted_by", "used_calls", "max_calls",
                    "expires_at", "active", "revoked_by")
    list_filter = ("tool_name",)
    search_fields = ("tool_name", "conversation_id", "granted_by__username")
    list_select_related = ("granted_by", "revoked_by")
    readonly_fields = [f.name for f in ApprovalScope._meta.fields]
    actions = ["revoke"]

    @admin.display(boolean=True, description=gettext_lazy("active"))
    def active(self, obj: ApprovalScope) -> bool:
        return obj.is_active

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("approvals.decide"):
            actions.pop("revoke", None)
        return actions

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm("approvals.decide")

    @admin.action(description=gettext_lazy("Revoke: later calls need approval again"))
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        revoked = 0
        for scope in queryset:
            try:
                services.revoke_scope(scope.pk, request.user)
                revoked += 1
            except services.DecisionError as exc:
                messages.warning(request, str(exc))
        if revoked:
            messages.success(request, ngettext("Revoked %(count)d scope.", "Revoked %(count)d scopes.",
                                               revoked) % {"count": revoked})
