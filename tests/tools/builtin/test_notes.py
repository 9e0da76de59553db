"""Notes belong to the signed-in user: nobody sees, finds or deletes another user's notes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from tools import Risk
from tools.builtin.notes import TOOLS, create_note, delete_note, search_notes
from tools.context import ToolContext
from tools.errors import ErrorType
from tools.models import Note
from tools.pipeline import Pipeline, ToolCallRequest, ToolResult
from tools.registry import Registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pipeline() -> Pipeline:
    reg = Registry()
    for item in TOOLS:
        reg.register(item)
    return Pipeline(reg, gate=None)


async def _call(pipeline: Pipeline, name: str, args: dict[str, Any], user: Any) -> ToolResult:
    return await pipeline.call(ToolCallRequest(name, json.dumps(args)), ToolContext(user=user))


async def _note(owner: Any, text: str) -> Note:
    return await Note.objects.acreate(owner=owner, text=text)


async def test_a_created_note_belongs_to_the_caller(pipeline, user):
    res = await _call(pipeline, "create_note", {"text": "  Flight LH 402 leaves Friday 10:15  "}, user)
    assert res.status == "ok"
    note = await Note.objects.select_related("owner").aget(pk=res.output["id"])
    assert note.owner == user
    assert note.text == "Flight LH 402 leaves Friday 10:15"
    assert res.output["text"] == note.text
    assert res.output["created_at"] == note.created_at.isoformat()


@pytest.mark.parametrize("text", ["", "   \n\t "])
async def test_an_empty_note_is_refused_and_nothing_is_saved(pipeline, user, text):
    res = await _call(pipeline, "create_note", {"text": text}, user)
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "text"
    assert await Note.objects.acount() == 0


async def test_a_note_may_hold_5000_characters_but_not_more(pipeline, user):
    too_long = await _call(pipeline, "create_note", {"text": "x" * 5001}, user)
    assert too_long.status == "error"
    assert too_long.error.type == ErrorType.VALIDATION_ERROR
    assert too_long.error.details[0]["path"] == "text"
    assert too_long.attempts == 0  # rejected before the tool ran
    longest = await _call(pipeline, "create_note", {"text": "x" * 5000}, user)
    assert longest.status == "ok"
    assert await Note.objects.acount() == 1


async def test_the_model_cannot_choose_the_owner(pipeline, user, other_user):
    res = await _call(pipeline, "create_note", {"text": "hi", "owner": other_user.pk}, user)
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0] == {"path": "owner", "problem": "is not an accepted argument",
                                    "got": other_user.pk}
    for item in TOOLS:
        assert "ctx" not in item.parameters["properties"]


async def test_search_is_a_case_insensitive_substring_match_over_own_notes_only(pipeline, user, other_user):
    mine = await _note(user, "Buy MILK and eggs")
    await _note(user, "call mom on Sunday")
    await _note(other_user, "milk for mallory")
    res = await _call(pipeline, "search_notes", {"query": "milk"}, user)
    assert res.status == "ok"
    assert [n["id"] for n in res.output] == [mine.pk]
    assert res.output[0]["text"] == "Buy MILK and eggs"


async def test_search_folds_the_case_of_non_ascii_text(pipeline, user, other_user):
    # SQLite's LIKE (behind icontains) would miss this match: it folds ASCII letters only
    mine = await _note(user, "ÜBER DEN WOLKEN")
    await _note(user, "unter den Wolken")
    await _note(other_user, "über alles")
    res = await _call(pipeline, "search_notes", {"query": "über"}, user)
    assert [n["id"] for n in res.output] == [mine.pk]
    if connection.vendor == "sqlite":  # (PostgreSQL's ILIKE folds it; the tool does not rely on that)
        assert not await Note.objects.filter(owner=user, text__icontains="über").aexists()


async def test_search_treats_percent_and_underscore_literally(pipeline, user):
    percent = await _note(user, "discount: 20% off")
    await _note(user, "20 people")
    underscore = await _note(user, "file_name.txt")
    await _note(user, "filename.txt")
    assert [n["id"] for n in (await _call(pipeline, "search_notes", {"query": "20%"}, user)).output] == [
        percent.pk
    ]
    assert [n["id"] for n in (await _call(pipeline, "search_notes", {"query": "e_n"}, user)).output] == [
        underscore.pk
    ]


async def test_a_search_with_no_match_is_an_empty_list_not_an_error(pipeline, user, other_user):
    await _note(other_user, "secret plans")
    res = await _call(pipeline, "search_notes", {"query": "secret"}, user)
    assert res.status == "ok"
    assert res.output == []


async def test_search_returns_the_newest_notes_first_up_to_the_limit(pipeline, user):
    notes = [await _note(user, f"todo {i}") for i in range(5)]
    res = await _call(pipeline, "search_notes", {"query": "TODO", "limit": 2}, user)
    assert [n["id"] for n in res.output] == [notes[4].pk, notes[3].pk]


async def test_an_empty_query_lists_the_callers_latest_notes(pipeline, user, other_user):
    first = await _note(user, "one")
    second = await _note(user, "two")
    await _note(other_user, "three")
    res = await _call(pipeline, "search_notes", {"query": ""}, user)
    assert [n["id"] for n in res.output] == [second.pk, first.pk]


@pytest.mark.parametrize("limit", [0, 51])
async def test_the_search_limit_must_be_between_1_and_50(pipeline, user, limit):
    res = await _call(pipeline, "search_notes", {"query": "x", "limit": limit}, user)
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "limit"


async def test_the_owner_deletes_their_own_note(pipeline, user):
    note = await _note(user, "old news")
    res = await _call(pipeline, "delete_note", {"note_id": note.pk}, user)
    assert res.status == "ok"
    assert res.output == {"deleted": True, "id": note.pk, "text": "old news"}
    assert not await Note.objects.filter(pk=note.pk).aexists()


async def test_a_user_cannot_delete_another_users_note(pipeline, user, other_user):
    theirs = await _note(other_user, "mallory's note")
    res = await _call(pipeline, "delete_note", {"note_id": theirs.pk}, user)
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.message == f"invalid arguments for delete_note: note {theirs.pk} not found"
    assert await Note.objects.filter(pk=theirs.pk).aexists()


async def test_a_foreign_note_and_a_missing_note_give_the_same_error(pipeline, user, other_user):
    theirs = await _note(other_user, "mallory's note")
    missing_id = theirs.pk + 1000
    foreign = await _call(pipeline, "delete_note", {"note_id": theirs.pk}, user)
    missing = await _call(pipeline, "delete_note", {"note_id": missing_id}, user)

    def shape(res: ToolResult, note_id: int) -> str:
        return json.dumps(res.error.as_dict()).replace(str(note_id), "N")

    assert (foreign.status, missing.status) == ("error", "error")
    assert shape(foreign, theirs.pk) == shape(missing, missing_id)
    assert foreign.output is missing.output is None


async def test_every_notes_tool_refuses_a_call_without_a_signed_in_user(pipeline, user):
    note = await _note(user, "kept")
    calls = [("create_note", {"text": "orphan"}), ("search_notes", {"query": "kept"}),
             ("delete_note", {"note_id": note.pk})]
    for anonymous in (None, AnonymousUser()):
        for name, args in calls:
            res = await _call(pipeline, name, args, anonymous)
            assert res.status == "error", name
            assert res.error.type == ErrorType.EXECUTION_ERROR, name
            assert f"{name} needs a signed-in user" in res.error.message, name
    assert [n.text async for n in Note.objects.all()] == ["kept"]


def test_deleting_is_high_risk_and_the_other_notes_tools_are_low_risk():
    assert delete_note.risk == Risk.HIGH
    assert delete_note.read_only is False
    assert create_note.risk == Risk.LOW
    assert create_note.read_only is False
    assert search_notes.risk == Risk.LOW
    assert search_notes.read_only is True
