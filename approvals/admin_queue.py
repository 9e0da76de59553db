"""The approval queue as approvers work it: filters by source and age, the columns of a
row, bulk deny with one reason, and what the live page (static/js/approvals_queue.js) needs.

Bulk deny is an admin action that only parses the reason form and calls
:func:`approvals.services.deny_many`, which decides each request through the same
:func:`~approvals.services.decide` as the decision page: one claim, one audit event per
request; a request someone else decided meanwhile is reported, never decided twice.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from approvals import review, services
from approvals.models import ApprovalRequest
from tools.results import redactor

LIVE_HEADER = "X-Toolgate-Live"
"""The live page's background fetches carry this header: the list renders without
consuming Django's messages, which belong to the approver's next real page view."""

ARGUMENTS_SHOWN = 90  # characters of the one-line arguments summary in a row


def _source(value: str) -> Q:
    return Q(tool_call__scope__source=value)


_CHAT = _source("chat") | (Q(tool_call__scope__source__isnull=True) & ~Q(conversation_id=""))


class SourceFilter(admin.SimpleListFilter):
    """Where the call came from (``ApprovalRequest.source``): the chat, the REST API, an
    MCP client, or anything else (``manage.py tools call``, calls recorded before sources)."""

    title = gettext_lazy("source")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("chat", _("chat")), ("api", _("REST API")), ("mcp", _("MCP client")),
                ("other", _("other"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        known = {"chat": _CHAT, "api": _source("api"), "mcp": _source("mcp")}
        if self.value() in known:
            return queryset.filter(known[self.value()])
        if self.value() == "other":
            matched = ApprovalRequest.objects.filter(_CHAT | _source("api") | _source("mcp"))
            return queryset.exclude(pk__in=matched.values("pk"))
        return queryset


AGES = {  # parameter value: (waited at least, waited less than)
    "5m": (None, timedelta(minutes=5)),
    "30m": (timedelta(minutes=5), timedelta(minutes=30)),
    "2h": (timedelta(minutes=30), timedelta(hours=2)),
    "older": (timedelta(hours=2), None),
}


class AgeFilter(admin.SimpleListFilter):
    """How long a request has waited (since it was created)."""

    title = gettext_lazy("age")
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("5m", _("under 5 minutes")), ("30m", _("5 to 30 minutes")),
                ("2h", _("30 minutes to 2 hours")), ("older", _("over 2 hours"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() not in AGES:
            return queryset
        at_least, less_than = AGES[self.value()]
        now = timezone.now()
        if at_least is not None:
            queryset = queryset.filter(created_at__lte=now - at_least)
        if less_than is not None:
            queryset = queryset.filter(created_at__gt=now - less_than)
        return queryset


class QueueColumns:
    """The columns of a queue row; values are plain text, which the admin escapes."""

    @admin.display(description=gettext_lazy("why it waits"))
    def why(self, obj: ApprovalRequest) -> str:
        """The rule in words, without the tool's name (its own column)."""
        return obj.rule_in_words.removeprefix(f"{obj.tool_name}: ")

    @admin.display(description=gettext_lazy("source"))
    def source_column(self, obj: ApprovalRequest) -> str:
        return obj.source_label

    @admin.display(description=gettext_lazy("arguments"))
    def arguments_summary(self, obj: ApprovalRequest) -> str:
        """One line, redacted again with today's sensitive keys, cut short."""
        text = json.dumps(redactor()(obj.arguments), ensure_ascii=False, sort_keys=True, default=str)
        return text if len(text) <= ARGUMENTS_SHOWN else text[:ARGUMENTS_SHOWN - 1] + "…"

    @admin.display(description=gettext_lazy("waiting"), ordering="created_at")
    def waited(self, obj: ApprovalRequest) -> str:
        return timesince(obj.created_at)

    @admin.display(description=gettext_lazy("expires"), ordering="expires_at")
    def expires(self, obj: ApprovalRequest) -> str:
        if not obj.is_pending:
            return "—"
        if obj.expires_at <= timezone.now():
            return _("expired")
        return _("in %(time)s") % {"time": timeuntil(obj.expires_at)}


class QueueChangeList(ChangeList):
    """Django marks the sorted column from the model's default ordering; the queue's default
    depends on the status shown (``ApprovalRequestAdmin.get_ordering``), so the headers
    follow that — the pending queue shows *expires* sorted ascending."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.queue_request = request
        super().__init__(request, *args, **kwargs)

    def _get_default_ordering(self) -> list[str]:
        return list(self.model_admin.get_ordering(self.queue_request))


class DenyReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (shown to each user and their model)"), widget=forms.Textarea(
            attrs={"rows": 3, "cols": 60, "autofocus": True}), max_length=2000, strip=True)


def selected_ids(request: HttpRequest, queryset: Any) -> list[int]:
    """The ids the approver ticked, as posted — not only those the list's filters still show,
    so a request decided elsewhere meanwhile is reported rather than silently skipped."""
    if request.POST.get("select_across") == "1":
        return list(queryset.values_list("pk", flat=True))
    return sorted({int(v) for v in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if v.isdigit()})


@admin.action(description=gettext_lazy("Deny the selected requests with one reason"), permissions=["decide"])
def deny_selected(modeladmin: Any, request: HttpRequest, queryset: Any) -> TemplateResponse | None:
    ids = selected_ids(request, queryset)
    form = DenyReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        outcome = services.deny_many(ids, request.user, form.cleaned_data["reason"])
        if outcome.denied:
            modeladmin.message_user(request, ngettext(
                "Denied %(count)d request.", "Denied %(count)d requests.", len(outcome.denied),
            ) % {"count": len(outcome.denied)}, messages.SUCCESS)
        for pk, problem in outcome.refused:
            modeladmin.message_user(request, _("Request #%(id)s was not denied: %(problem)s")
                                    % {"id": pk, "problem": problem}, messages.WARNING)
        return None
    requests = ApprovalRequest.objects.filter(pk__in=ids).select_related("requester", "tool_call")
    context = {
        **modeladmin.admin_site.each_context(request), "title": _("Deny the selected requests"),
        "opts": modeladmin.model._meta, "form": form, "requests": requests.order_by("expires_at", "pk"),
        "ids": ids, "action_name": "deny_selected",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across") == "1",
    }
    return TemplateResponse(request, "admin/approvals/approvalrequest/deny_selected.html", context)


def live_context(request: HttpRequest) -> dict[str, Any]:
    """What the queue page's script needs: the badge count and its words, translated here
    (the script holds no user-facing text)."""
    strings = {
        "live": _("Live: new requests appear as they arrive."),
        "reconnecting": _("Reconnecting…"),
        "not_allowed": _("Live updates are for approvers; reload the page to see changes."),
        "signed_out": _("You were signed out; reload the page to sign in again."),
        "arrived_one": ngettext("%(count)s new request arrived.", "%(count)s new requests arrived.", 1),
        "arrived_other": ngettext("%(count)s new request arrived.", "%(count)s new requests arrived.", 2),
        "left": _("A request left the queue: decided or expired."),
        "refresh_failed": _("Could not refresh the list; it will try again with the next change."),
        "badge": _("(%(count)s) %(title)s"),
    }
    return {
        "queue_strings": strings,
        "queue_decidable": review.decidable(request.user).count(),
        "queue_user_key": str(request.user.pk),
        "live_fragment": request.headers.get(LIVE_HEADER) == "1",
        "queue_refresh_ms": settings.APPROVALS_QUEUE_REFRESH * 1000,
    }
