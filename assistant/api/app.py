"""The public REST API (docs/api.md): one NinjaAPI, version 1 under ``/api/v1/``.

Every operation needs a caller (a personal token or the browser session) and answers
errors in one JSON shape (assistant.api.errors). The schema is at ``/api/openapi.json``
and readable at ``/api/docs``; both are public, like any published API description.
"""

from __future__ import annotations

from ninja import NinjaAPI

from assistant.api import (
    attachments,
    conversations,
    errors,
    exchange,
    extract,
    history,
    profile_switch,
    search,
    tools,
)
from assistant.api.auth import AUTH

api = NinjaAPI(
    title="Toolgate API",
    version="1",
    description=(
        "Tools, approvals, tool-call history and chat for one user. Authenticate with a personal "
        "token (`Authorization: Bearer tg_…`, made at /settings/tokens/) or the browser session. "
        'Errors: `{"error": {"code", "message", "details"}}`. See docs/api.md.'
    ),
    auth=AUTH,
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
api.add_router("/v1/", tools.router)
api.add_router("/v1/", history.router)
api.add_router("/v1/", exchange.router)  # first: /conversations/import before /conversations/{id}
api.add_router("/v1/", conversations.router)
api.add_router("/v1/", extract.router)
api.add_router("/v1/", search.router)
api.add_router("/v1/", profile_switch.router)  # issue 14: switch the model
api.add_router("/v1/", attachments.router)  # issue 14: attachments
