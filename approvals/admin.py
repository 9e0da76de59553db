"""The approval queue, tool policies and rules in the Django admin.

The queue shows pending requests by default, with counts per status; a request's page
shows the conversation around the call and the arguments pretty-printed, and — for users
with ``approvals.decide`` — the Approve / Approve with edits / Deny forms. Every decision
goes through :func:`approvals.services.decide`; the admin holds no decision logic.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from approvals import audit, review, services
from approvals.admin_audit import AuditEventAdmin  # noqa: F401  (registers the audit log admin)
from approvals.admin_notify import ApprovalScopeAdmin  # noqa: F401  (registers deliveries and scopes)
from approvals.admin_queue import (
    AgeFilter,
    QueueChangeList,
    QueueColumns,
    SourceFilter,
    deny_selected,
    live_context,
)
from approvals.models import ApprovalRequest, ApprovalScope, PolicyRule, ToolPolicy
from tools.admin import ReadOnlyAdmin, pretty_json
from tools.registry import registry


class StatusFilter(admin.SimpleListFilter):
    """Pending first: the queue opens on what needs a decision."""

    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*ApprovalRequest.Status.choices, ("all", _("All"))]

    def value(self) -> str:
        return super().value() or ApprovalRequest.Status.PENDING

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "query_string":
                   changelist.get_query_string({self.parameter_name: lookup}), "display": title}

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset if self.value() == "all" else queryset.filter(status=self.value())


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(QueueColumns, ReadOnlyAdmin):
    list_display = ("tool_name", "risk", "requester", "source_column", "why", "waited", "expires",
                    "arguments_summary", "status", "decided_by")
    list_display_links = ("tool_name",)
    list_filter = (StatusFilter, "tool_name", "risk", ("requester", admin.RelatedOnlyFieldListFilter),
                   AgeFilter, SourceFilter)
    list_select_related = ("tool_call", "requester", "decided_by")
    search_fields = ("tool_name", "rule", "requester__username", "conversation_id")
    actions = [deny_selected]
    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    change_list_template = "admin/approvals/approvalrequest/change_list.html"
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields]

    # Read-only: decisions go through the decide view, never through a model form.

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Approvers need to see the queue they decide; ``view`` alone also suffices."""
        return super().has_view_permission(request, obj) or request.user.has_perm("approvals.decide")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or request.user.has_perm("approvals.decide")

    def get_list_display(self, request: HttpRequest) -> Any:
        """The pending queue leaves out what every pending row has in common (status, no decider)."""
        if request.GET.get(StatusFilter.parameter_name, ApprovalRequest.Status.PENDING) == "pending":
            return tuple(c for c in self.list_display if c not in ("status", "decided_by"))
        return self.list_display

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[QueueChangeList]:
        return QueueChangeList

    def has_decide_permission(self, request: HttpRequest) -> bool:
        """Who gets the bulk deny action (``@admin.action(permissions=["decide"])``)."""
        return request.user.has_perm("approvals.decide")

    def get_ordering(self, request: HttpRequest) -> list[str]:
        """The pending queue opens soonest-to-expire first; other lists newest first."""
        if request.GET.get(StatusFilter.parameter_name, ApprovalRequest.Status.PENDING) == "pending":
            return ["expires_at", "pk"]
        return ["-created_at"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        counts = dict(ApprovalRequest.objects.values_list("status").annotate(n=Count("pk")).order_by())
        extra = {"status_counts": [(label, counts.get(value, 0))
                                   for value, label in ApprovalRequest.Status.choices],
                 **live_context(request)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self) -> list[Any]:
        return [path("<int:pk>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="approvals_approvalrequest_decide"), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> Any:
        obj = get_object_or_404(ApprovalRequest.objects.select_related("tool_call", "requester"),
                                pk=object_id)
        edited = obj.edited_arguments
        context = {
            "request_obj": obj,
            "arguments_pretty": pretty_json(obj.arguments),
            "edited_pretty": pretty_json(edited) if edited is not None else None,
            "diff": _diff(obj.arguments, edited) if edited is not None else "",
            "can_decide": request.user.has_perm("approvals.decide") and obj.is_pending,
            "conversation": _conversation_context(obj),
            "conversation_html": review.render_conversation(obj),
            "tool_schema": _schema(obj.tool_name),
            "next_pending": review.next_pending(request.user, obj),
            "decide_url": reverse("admin:approvals_approvalrequest_decide", args=[obj.pk]),
            "scope_policy": ToolPolicy.objects.filter(tool_name=obj.tool_name, scope_eligible=True).first()
            if obj.conversation_id else None,
            "scope_granted": ApprovalScope.objects.filter(approval=obj).first(),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
        decision = request.POST.get("decision", "")
        edited = None
        allow_conversation = decision == "approve_scope"
        if allow_conversation:
            decision = services.APPROVE
        if decision == "approve_edited":
            try:
                edited = json.loads(request.POST.get("edited_arguments", ""))
            except ValueError as exc:
                messages.error(request, _("The edited arguments are not valid JSON: %(error)s")
                               % {"error": exc})
                return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
            decision = services.APPROVE
        try:
            decided = services.decide(pk, request.user, decision, reason=request.POST.get("reason", ""),
                                      edited_arguments=edited, allow_conversation=allow_conversation)
        except ApprovalRequest.DoesNotExist:
            messages.error(request, _("There is no such approval request."))
            return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_changelist"))
        except services.DecisionError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
        messages.success(request, _("%(tool)s #%(pk)s %(status)s.") % {
            "tool": decided.tool_name, "pk": decided.pk, "status": decided.get_status_display().lower()})
        following = review.next_pending(request.user, decided)
        if following is not None:  # straight on to the next request that waits
            return HttpResponseRedirect(
                reverse("admin:approvals_approvalrequest_change", args=[following.pk]))
        return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_changelist"))


def _schema(tool_name: str) -> dict[str, Any] | None:
    tool = registry.get(tool_name)
    return tool.parameters if tool is not None else None


def _diff(original: Any, edited: Any) -> str:
    asked, approved = pretty_json(original).splitlines(), pretty_json(edited).splitlines()
    return "\n".join(difflib.unified_diff(asked, approved, "asked", "approved", lineterm=""))


def _conversation_context(obj: ApprovalRequest, around: int = 6) -> list[dict[str, str]]:
    """The messages before the call, read without importing the chat app (layering)."""
    if not obj.conversation_id or not apps.is_installed("assistant"):
        return []
    message_model = apps.get_model("assistant", "Message")
    rows = message_model.objects.filter(conversation_id=obj.conversation_id, created_at__lte=obj.created_at)
    latest = list(rows.order_by("-position")[:around])
    return [{"role": m.role, "content": m.content or pretty_json(m.tool_calls or m.tool_results)}
            for m in reversed(latest)]


class PolicyRuleInline(admin.TabularInline):
    model = PolicyRule
    extra = 0
    fields = ("order", "name", "argument", "operator", "value", "action", "enabled")


class AuditedAdmin(admin.ModelAdmin):
    """Records every change made in the admin to the audit log, with what changed."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        changes = {name: [form.initial.get(name), form.cleaned_data.get(name)] for name in form.changed_data}
        super().save_model(request, obj, form, change)
        audit.policy_changed(request.user.get_username(), obj, "changed" if change else "created",
                             changes)  # policy_changed names objects and many-to-many values

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.policy_changed(request.user.get_username(), obj, "deleted", {})
        super().delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rules: each created, changed or deleted rule is its own audit event."""
        actor = request.user.get_username()
        edits = []
        for inline in formset.forms:
            data = getattr(inline, "cleaned_data", None) or {}
            if inline.has_changed() and data and not data.get("DELETE"):
                action = "changed" if inline.instance.pk else "created"
                edits.append((inline, action, {n: [inline.initial.get(n), data.get(n)]
                                               for n in inline.changed_data}))
        super().save_formset(request, form, formset, change)
        for inline, action, changes in edits:
            audit.policy_changed(actor, inline.instance, action, _jsonable(changes))
        for obj in formset.deleted_objects:
            audit.policy_changed(actor, obj, "deleted", {})


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: getattr(o, "pk", str(o))))


@admin.register(ToolPolicy)
class ToolPolicyAdmin(AuditedAdmin):
    list_display = ("tool_name", "enabled", "approval", "rate_limit", "groups", "scope_eligible",
                    "updated_at")
    list_filter = ("enabled", "approval")
    search_fields = ("tool_name",)
    filter_horizontal = ("allowed_groups",)
    inlines = [PolicyRuleInline]

    @admin.display(description=gettext_lazy("allowed groups"))
    def groups(self, obj: ToolPolicy) -> str:
        names = ", ".join(g.name for g in obj.allowed_groups.all())
        return names or _("everyone")


@admin.register(PolicyRule)
class PolicyRuleAdmin(AuditedAdmin):
    list_display = ("policy", "order", "name", "argument", "operator", "value", "action", "enabled")
    list_filter = ("action", "enabled", "policy")
