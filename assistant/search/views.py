"""``GET /search/?q=``: the search page; results link to the message in its conversation."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assistant.search.service import SearchError, search


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results, error = None, ""
    if query:
        try:
            results = search(request.user, query)
        except SearchError as exc:
            error = str(exc)
    return render(request, "assistant/search.html", {"query": query, "results": results, "error": error},
                  status=400 if error else 200)
