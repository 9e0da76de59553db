"""Notes tools: a small memory the model keeps for the signed-in user across conversations.

Every query is scoped to ``ctx.user``, which the pipeline fills in and the model cannot
forge (it never appears in the schema). Deleting a note that does not exist and deleting
another user's note fail with the very same error, so the tools never reveal whether
someone else's note id exists. Deleting is ``risk="high"``: it cannot be undone, so the
gate asks a human first.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tools import ArgumentError, ToolContext, tool
from tools.definition import Tool
from tools.models import Note

MAX_NOTE_CHARS = 5000
MAX_QUERY_CHARS = 200
MAX_RESULTS = 50


class SignInRequired(PermissionError):
    """The call has no signed-in user, and notes always belong to one."""


def _owner(ctx: ToolContext, tool_name: str) -> Any:
    user = ctx.user
    if user is None or not getattr(user, "is_authenticated", False) or ctx.user_id is None:
        raise SignInRequired(
            f"{tool_name} needs a signed-in user: notes belong to a user, and this call has none"
        )
    return user


def _as_dict(note: Note) -> dict[str, Any]:
    return {"id": note.pk, "text": note.text, "created_at": note.created_at.isoformat()}


@tool(risk="low")
def create_note(ctx: ToolContext, text: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS)]
                ) -> dict[str, Any]:
    """Save a short note for the user so it can be found again later, even in another conversation.

    Use this when the user asks you to remember, write down or note something ("remember
    that my flight is on Friday", "note: buy milk"). Save the information itself in plain
    words, one topic per note. Returns the new note with its id.

    Example: {"text": "Flight LH 402 to Newark leaves Friday 10:15 from FRA terminal 1"}

    Args:
        text: The note's text, 1 to 5000 characters.
    """
    owner = _owner(ctx, "create_note")
    clean = text.strip()
    if not clean:
        raise ArgumentError("the note text is empty", path="text", got=text,
                            hint="Send the text to remember, e.g. {\"text\": \"buy milk\"}.")
    return _as_dict(Note.objects.create(owner=owner, text=clean))


@tool(risk="low", read_only=True, idempotent=True)
def search_notes(
    ctx: ToolContext,
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)],
    limit: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 10,
) -> list[dict[str, Any]]:
    """Find the user's saved notes whose text contains the query, newest first.

    Use this before answering questions about things the user asked you to remember, and
    to find a note's id before deleting it. Matching is a case-insensitive substring
    search: "milk" finds "Buy MILK and eggs". Search with one distinctive word rather
    than a whole sentence. An empty query lists the most recent notes. Returns a list of
    {id, text, created_at}; an empty list means no note matches.

    Examples: {"query": "flight"}, {"query": "", "limit": 20}

    Args:
        query: Text to look for in the notes; empty to list the latest notes.
        limit: How many notes to return at most, 1 to 50.
    """
    owner = _owner(ctx, "search_notes")
    notes = Note.objects.filter(owner=owner).order_by("-created_at", "-id")
    needle = query.strip()
    if needle.isascii():
        # SQLite's LIKE folds case for ASCII only, which is exactly this case
        if needle:
            notes = notes.filter(text__icontains=needle)
        return [_as_dict(n) for n in notes[:limit]]
    # Non-ASCII ("Über", "ÉTÉ"): the database cannot fold the case, so Python does
    folded, found = needle.casefold(), []
    for note in notes.iterator(chunk_size=500):
        if folded in note.text.casefold():
            found.append(_as_dict(note))
            if len(found) == limit:
                break
    return found


@tool(risk="high")
def delete_note(ctx: ToolContext, note_id: Annotated[int, Field(ge=1)]) -> dict[str, Any]:
    """Permanently delete one of the user's notes by its id.

    Use this only when the user asks to delete or forget a specific note. Find the id
    with search_notes first; never guess ids. Deleting cannot be undone, so a human may
    be asked to approve the call. Returns the deleted note's id and text.

    Example: {"note_id": 42}

    Args:
        note_id: The id of the note, as returned by search_notes or create_note.
    """
    owner = _owner(ctx, "delete_note")
    mine = Note.objects.filter(pk=note_id, owner=owner)
    note = mine.first()
    # "no such note" and "someone else's note" take the same path: the answer must not differ
    if note is None or not mine.delete()[0]:
        raise ArgumentError(
            f"note {note_id} not found", path="note_id", got=note_id,
            hint="Use search_notes to find the id of one of the user's notes.",
        )
    return {"deleted": True, "id": note_id, "text": note.text}


TOOLS: list[Tool] = [create_note, search_notes, delete_note]
