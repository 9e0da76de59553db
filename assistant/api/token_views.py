"""The page where a user makes, sees and revokes their personal API tokens (/settings/tokens/).

A new token's secret is rendered in the response to the POST that made it and nowhere
else: it is not stored (only its hash is), not put in the session, not redirected with.
Reloading the list shows only each token's prefix.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from assistant.api import tokens
from assistant.models import ApiToken

MAX_ACTIVE_TOKENS = 50
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class NewTokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=ApiToken._meta.get_field("name").max_length,
                           strip=True, help_text=gettext_lazy("What the token is for, e.g. “laptop script”."))
    read_only = forms.BooleanField(label=gettext_lazy("Read-only (GET requests only)"), required=False)
    mcp_only = forms.BooleanField(label=gettext_lazy("MCP only (works at /mcp, not on the REST API)"),
                                  required=False)
    allowed_tools = forms.CharField(
        label=gettext_lazy("Only these tools over MCP"), required=False, max_length=4000, strip=True,
        help_text=gettext_lazy(
            "Tool names separated by commas or spaces; empty means every tool you may use."))

    def clean_allowed_tools(self) -> list[str]:
        names = [n for n in re.split(r"[\s,]+", self.cleaned_data["allowed_tools"]) if n]
        bad = [n for n in names if not TOOL_NAME.fullmatch(n)]
        if bad:
            raise forms.ValidationError(_("Not a tool name: %(names)s.") % {"names": ", ".join(bad[:5])})
        return names


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = NewTokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if ApiToken.objects.active().filter(user=request.user).count() >= MAX_ACTIVE_TOKENS:
            form.add_error(None, _("You already have %(count)d active tokens; revoke one first.")
                           % {"count": MAX_ACTIVE_TOKENS})
        if form.is_valid():
            created = tokens.create(request.user, form.cleaned_data["name"],
                                    read_only=form.cleaned_data["read_only"],
                                    mcp_only=form.cleaned_data["mcp_only"],
                                    allowed_tools=form.cleaned_data["allowed_tools"])
            form = NewTokenForm()
        else:
            status = 400
    response = render(request, "assistant/tokens.html", {
        "form": form, "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
    }, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if tokens.revoke(request.user, token_id):
        messages.success(request, _("Token revoked: it no longer works."))
    else:
        messages.error(request, _("No such active token."))
    return redirect("tokens:list")
