"""Administrators' per-tool policy and conditional rules, editable in the admin.

Defaults come from the tool's risk level; a :class:`ToolPolicy` overrides them for one
tool, and its :class:`PolicyRule` rows look at the exact arguments of a call.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy

from tools import dbfields


class ToolPolicy(models.Model):
    class Approval(models.TextChoices):
        BY_RISK = "by_risk", gettext_lazy("By risk level (high needs approval)")
        ALWAYS = "always", gettext_lazy("Always needs approval")
        NEVER = "never", gettext_lazy("Never needs approval")

    tool_name = dbfields.CharField(max_length=64, unique=True, verbose_name=gettext_lazy("tool name"))
    enabled = models.BooleanField(default=True, help_text=gettext_lazy(
        "A disabled tool is never offered to the model."), verbose_name=gettext_lazy("enabled"))
    allowed_groups = models.ManyToManyField(
        Group, blank=True, related_name="tool_policies",
        help_text=gettext_lazy("If any are chosen, only members of these groups may use the tool."),
        verbose_name=gettext_lazy("allowed groups"))
    approval = dbfields.CharField(max_length=10, choices=Approval.choices, default=Approval.BY_RISK,
                                  verbose_name=gettext_lazy("approval"))
    rate_limit = dbfields.CharField(
        max_length=20, blank=True,
        help_text=gettext_lazy("Per user, e.g. '10/m' or '100/d'; empty keeps the tool's own limit."),
        verbose_name=gettext_lazy("rate limit"))
    scope_eligible = models.BooleanField(
        gettext_lazy("may be allowed for a conversation"), default=False,
        help_text=gettext_lazy("Approvers may approve a call together with later calls of this tool in the "
                               "same conversation (bounded below). Deny rules still apply to every call."))
    scope_max_calls = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=gettext_lazy("At most this many later calls (1 to 100) are covered by one such approval."),
                                                  verbose_name=gettext_lazy("scope max calls"))
    scope_max_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text=gettext_lazy("Such an approval lapses this many minutes (1 to 1440) after it is given."),
                                                    verbose_name=gettext_lazy("scope max minutes"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        ordering = ["tool_name"]
        verbose_name_plural = gettext_lazy("tool policies")
        verbose_name = gettext_lazy("tool policy")

    def __str__(self) -> str:
        return self.tool_name

    def clean(self) -> None:
        from tools.definition import RateLimit
        from tools.errors import ToolDefinitionError

        if self.rate_limit:
            try:
                RateLimit.parse(self.rate_limit, self.tool_name)
            except ToolDefinitionError as exc:
                raise ValidationError({"rate_limit": str(exc)}) from None


class PolicyRule(models.Model):
    """A condition on one argument of a call, and what happens when it holds."""

    class Operator(models.TextChoices):
        GT = "gt", gettext_lazy("is greater than")
        GTE = "gte", gettext_lazy("is at least")
        LT = "lt", gettext_lazy("is less than")
        LTE = "lte", gettext_lazy("is at most")
        EQ = "eq", gettext_lazy("equals")
        NE = "ne", gettext_lazy("does not equal")
        IN = "in", gettext_lazy("is one of (comma-separated)")
        NOT_IN = "not_in", gettext_lazy("is none of (comma-separated)")
        CONTAINS = "contains", gettext_lazy("contains the text")
        MENTIONS = "mentions", gettext_lazy("mentions the word (whole word, any case)")
        MATCHES = "matches", gettext_lazy("matches the regular expression")
        EMAIL_OUTSIDE = "email_outside", gettext_lazy(
            "has an email address outside the domains (comma-separated)")
        PRESENT = "present", gettext_lazy("is given")

    class Action(models.TextChoices):
        REQUIRE_APPROVAL = "require_approval", gettext_lazy("Require approval")
        DENY = "deny", gettext_lazy("Deny")
        ALLOW = "allow", gettext_lazy("Allow without approval")

    policy = models.ForeignKey(ToolPolicy, on_delete=models.CASCADE, related_name="rules",
                               verbose_name=gettext_lazy("policy"))
    name = dbfields.CharField(max_length=100, help_text=gettext_lazy(
        "Shown to approvers as the reason for the decision."), verbose_name=gettext_lazy("name"))
    argument = dbfields.CharField(
        max_length=200, help_text=gettext_lazy(
            "The argument to look at; dots reach into objects, e.g. 'address.city'."),
        verbose_name=gettext_lazy("argument"))
    operator = dbfields.CharField(max_length=20, choices=Operator.choices,
                                  verbose_name=gettext_lazy("operator"))
    value = dbfields.CharField(max_length=500, blank=True, verbose_name=gettext_lazy("value"))
    action = dbfields.CharField(max_length=20, choices=Action.choices, default=Action.REQUIRE_APPROVAL,
                                verbose_name=gettext_lazy("action"))
    enabled = models.BooleanField(default=True, verbose_name=gettext_lazy("enabled"))
    order = models.PositiveIntegerField(
        default=0, help_text=gettext_lazy("Rules are tried in this order; the first match wins."),
                                        verbose_name=gettext_lazy("order"))

    class Meta:
        ordering = ["policy", "order", "pk"]
        verbose_name = gettext_lazy("policy rule")
        verbose_name_plural = gettext_lazy("policy rules")

    def __str__(self) -> str:
        return f"{self.policy.tool_name}: {self.name}"

    def clean(self) -> None:
        numeric = {self.Operator.GT, self.Operator.GTE, self.Operator.LT, self.Operator.LTE}
        if self.operator in numeric:
            try:
                float(self.value)
            except ValueError:
                raise ValidationError({"value": f"'{self.value}' is not a number."}) from None
        if self.operator == self.Operator.MATCHES:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValidationError({"value": f"Not a valid regular expression: {exc}"}) from None

    def matches(self, arguments: dict[str, Any]) -> bool:
        """Does this rule hold for these exact arguments? Missing arguments never match,
        except that ``present`` is false for them."""
        from approvals.rules import evaluate

        return evaluate(self.operator, self.value, _dig(arguments, self.argument))


_MISSING = object()


def _dig(arguments: Any, path: str) -> Any:
    value = arguments
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


MISSING = _MISSING
