"""Token usage and per-user budgets in the admin.

*Token usage* is a read-only report: tokens (input + output) today, over the last 7 days
and in total, per user and per model profile, summed from the runs. It is the changelist
of a proxy of :class:`~assistant.models.Run`, so it sits in the admin's menu and obeys
the usual view permission, but it lists aggregates, not rows. *User token budgets* set a
user's own daily cap in place of ``TOKEN_BUDGET_DAILY`` (see assistant/ops/budgets.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy

from assistant.models import Run, TokenUsage, UserBudget
from assistant.ops import budgets

REPORT_ROWS = 500  # the heaviest spenders; a report, not a listing of every account
_TOKENS = F("input_tokens") + F("output_tokens")


@dataclass
class UsageRow:
    label: str
    today: int
    week: int
    total: int
    runs: int
    limit: int | None = None  # users only: their daily cap (0 = unlimited)
    user_id: int | None = None


def _sums(since_today: datetime, since_week: datetime) -> dict[str, Any]:
    return {
        "today": Sum(_TOKENS, filter=Q(created_at__gte=since_today), default=0),
        "week": Sum(_TOKENS, filter=Q(created_at__gte=since_week), default=0),
        "total": Sum(_TOKENS, default=0),
        "runs": Count("pk"),
    }


def usage_report(now: datetime | None = None) -> dict[str, Any]:
    """Per-user and per-profile token sums; "last 7 days" is today and the 6 days before (UTC)."""
    today = budgets.day_start(now)
    week = today - timedelta(days=6)
    sums = _sums(today, week)
    budgets_by_user = dict(UserBudget.objects.values_list("user_id", "daily_tokens"))
    default = settings.TOKEN_BUDGET_DAILY
    users = [
        UsageRow(row["user__username"] or "(deleted user)", row["today"], row["week"], row["total"],
                 row["runs"], limit=budgets_by_user.get(row["user_id"], default), user_id=row["user_id"])
        for row in Run.objects.values("user_id", "user__username").annotate(**sums)
        .order_by("-total", "user__username")[:REPORT_ROWS]
    ]
    profiles = [
        UsageRow(row["profile"], row["today"], row["week"], row["total"], row["runs"])
        for row in Run.objects.values("profile").annotate(**sums).order_by("-total", "profile")
    ]
    return {"users": users, "profiles": profiles, "day_start": today, "week_start": week,
            "default_limit": default, "truncated": len(users) == REPORT_ROWS}


@admin.register(TokenUsage)
class TokenUsageAdmin(admin.ModelAdmin):
    """A report, not a list: nothing here can be added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Token usage",
            **usage_report(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/assistant/tokenusage/report.html", context)


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_tokens", "used_today", "updated_at")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)

    @admin.display(description=gettext_lazy("used today"))
    def used_today(self, obj: UserBudget) -> int:
        return budgets.used_today(obj.user_id)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")
