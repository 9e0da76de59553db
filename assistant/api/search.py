"""``GET /api/v1/search?q=``: full-text search over the caller's titles and messages.

The same service as the search page (assistant/search/service.py). Each hit names the
conversation and, for a message, the message and a link to it in the page.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from assistant.api.auth import caller
from assistant.api.errors import responses
from assistant.search.service import MAX_QUERY_CHARS, SearchError, search

router = Router(tags=["search"])


class SearchParams(Schema):
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS,
                   description="Words to find (all must match; the last may be the start of a word).")
    limit: int = Field(20, ge=1, le=100)


class HitOut(Schema):
    conversation_id: UUID
    title: str
    message_id: UUID | None = Field(description="None when the conversation's title matched.")
    role: Literal["title", "user", "assistant"]
    snippet: str = Field(description="The matching text, shortened around the matches.")
    highlights: list[str] = Field(description="The matched words as they appear in the snippet.")
    url: str = Field(description="The page showing it: /c/<conversation>/#m-<message>.")


class SearchOut(Schema):
    query: str
    items: list[HitOut]


@router.get("/search", response={200: SearchOut, **responses(401, 422)},
            summary="Search your conversations' titles and messages (full text)")
async def search_conversations(request: HttpRequest, params: Query[SearchParams]) -> Any:
    try:
        results = await sync_to_async(search)(caller(request), params.q, limit=params.limit)
    except SearchError:
        # Only "no word in it" gets here (the length is the schema's): nothing can match.
        return {"query": params.q, "items": []}
    items = []
    for hit in results.hits[:params.limit]:
        body = hit.as_dict()
        anchor = f"#m-{hit.message_id}" if hit.message_id else ""
        body["url"] = f"/c/{hit.conversation_id}/{anchor}"
        items.append(body)
    return {"query": params.q, "items": items}
