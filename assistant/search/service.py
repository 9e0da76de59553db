"""Search a user's conversation titles and messages: SQLite FTS5 or PostgreSQL full text.

The embedded database keeps an FTS5 index of message text (``assistant_message_fts``,
external content, kept in step by triggers: migration 0007); PostgreSQL searches with
``to_tsvector``/``websearch_to_tsquery`` (``simple`` configuration: no language guessing)
over a GIN expression index. Titles are few per user and matched as words with a plain
case-insensitive ``LIKE``. Only the caller's conversations are searched, user and
assistant text only (tool turns are JSON). The query is the user's words: quoted as
phrases for FTS5 (nothing they type is FTS syntax), the last one as a prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils.translation import gettext as _

from assistant.models import Conversation

MAX_QUERY_CHARS = 200
MARK_START, MARK_END = "\x02", "\x03"  # around matches in snippets; never in stored text shown raw
_WORD = re.compile(r"\w+", re.UNICODE)


class SearchError(ValueError):
    """A query that cannot be searched; the message says why."""


@dataclass
class Hit:
    conversation_id: UUID
    title: str
    message_id: UUID | None  # None: the title matched
    role: str
    snippet: str  # with MARK_START/MARK_END around the matched words

    @property
    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, matched) pieces, for templates that escape each piece."""
        pieces: list[tuple[str, bool]] = []
        for chunk in re.split(f"({MARK_START}.*?{MARK_END})", self.snippet):
            if chunk.startswith(MARK_START) and chunk.endswith(MARK_END):
                pieces.append((chunk[1:-1], True))
            elif chunk:
                pieces.append((chunk, False))
        return pieces

    @property
    def plain(self) -> str:
        return self.snippet.replace(MARK_START, "").replace(MARK_END, "")

    def as_dict(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "title": self.title, "message_id": self.message_id,
                "role": self.role, "snippet": self.plain,
                "highlights": [text for text, matched in self.parts if matched]}


@dataclass
class Results:
    query: str
    hits: list[Hit] = field(default_factory=list)


def words(query: str) -> list[str]:
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(_("The search is %(length)d characters long; the limit is %(limit)d.")
                          % {"length": len(query), "limit": MAX_QUERY_CHARS})
    found = _WORD.findall(query)
    if not found:
        raise SearchError(_("Type at least one word to search for."))
    return found


def search(user: Any, query: str, *, limit: int = 50) -> Results:
    terms = words(query)
    results = Results(query)
    results.hits += _titles(user, terms, limit)
    rows = _messages_postgres(user, terms, limit) if connection.vendor == "postgresql" \
        else _messages_sqlite(user, terms, limit)
    results.hits += [Hit(conversation_id=_uuid(c), title=t, message_id=_uuid(m), role=r, snippet=s)
                     for m, c, t, r, s in rows]
    return results


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _titles(user: Any, terms: list[str], limit: int) -> list[Hit]:
    found = Conversation.objects.owned_by(user)
    for term in terms:
        found = found.filter(title__icontains=term)
    hits = []
    for conversation in found[:limit]:
        snippet = conversation.title
        for term in terms:
            snippet = re.sub(f"({re.escape(term)})", f"{MARK_START}\\1{MARK_END}", snippet,
                             flags=re.IGNORECASE)
        hits.append(Hit(conversation.pk, conversation.title, None, "title", snippet))
    return hits


def fts5_query(terms: list[str]) -> str:
    """Every word as a quoted phrase (so nothing typed is FTS5 syntax), the last a prefix."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def _messages_sqlite(user: Any, terms: list[str], limit: int) -> list[tuple[Any, ...]]:
    sql = f"""
        SELECT m.id, m.conversation_id, c.title, m.role,
               snippet(assistant_message_fts, 0, '{MARK_START}', '{MARK_END}', '…', 16)
        FROM assistant_message_fts
        JOIN assistant_message m ON m.rowid = assistant_message_fts.rowid
        JOIN assistant_conversation c ON c.id = m.conversation_id
        WHERE assistant_message_fts MATCH %s AND c.owner_id = %s AND m.role IN ('user', 'assistant')
        ORDER BY rank LIMIT %s
    """  # noqa: S608 -- the only interpolations are the two constant markers above
    with connection.cursor() as cursor:
        cursor.execute(sql, [fts5_query(terms), user.pk, limit])
        return list(cursor.fetchall())


def _messages_postgres(user: Any, terms: list[str], limit: int) -> list[tuple[Any, ...]]:
    sql = f"""
        SELECT m.id, m.conversation_id, c.title, m.role,
               ts_headline('simple', m.content, q,
                           'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8')
        FROM assistant_message m
        JOIN assistant_conversation c ON c.id = m.conversation_id,
             to_tsquery('simple', %s) q
        WHERE to_tsvector('simple', m.content) @@ q AND c.owner_id = %s AND m.role IN ('user', 'assistant')
        ORDER BY ts_rank(to_tsvector('simple', m.content), q) DESC LIMIT %s
    """  # noqa: S608 -- the only interpolations are the two constant markers above
    # Each word as a lexeme (quoted, so nothing typed is tsquery syntax), the last a prefix.
    query = " & ".join("'" + t.replace("'", "''").replace("\\", "") + "'" for t in terms) + ":*"
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, user.pk, limit])
        return list(cursor.fetchall())
