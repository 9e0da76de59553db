"""Search over titles and message text: full text, the caller's own only, safe with any input."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message
from assistant.search.service import SearchError, search

pytestmark = pytest.mark.django_db(transaction=True)


def conversation(owner, title: str, *texts: tuple[str, str]) -> Conversation:
    made = Conversation.objects.create(owner=owner, profile="demo", title=title)
    for position, (role, content) in enumerate(texts):
        Message.objects.create(conversation=made, position=position, role=role, content=content)
    return made


def test_message_text_is_found_by_its_words_with_the_match_marked(user):
    trip = conversation(user, "Holidays", ("user", "Plan a trip to Bergen in May"),
                        ("assistant", "Bergen is rainy; pack a coat."))
    conversation(user, "Work", ("user", "quarterly numbers"))
    hits = search(user, "bergen").hits
    assert {h.conversation_id for h in hits} == {trip.pk}
    assert {h.role for h in hits} == {"user", "assistant"}
    assert all(("Bergen", True) in h.parts for h in hits)
    message_ids = set(trip.messages.values_list("id", flat=True))
    assert {h.message_id for h in hits} == message_ids


def test_every_word_must_match_and_the_last_one_may_be_a_prefix(user):
    conversation(user, "A", ("user", "the red fox jumps"))
    conversation(user, "B", ("user", "the red car"))
    assert [h.plain for h in search(user, "red fox").hits] == ["the red fox jumps"]
    assert [h.plain for h in search(user, "jum").hits] == ["the red fox jumps"]


def test_titles_are_found_too(user):
    made = conversation(user, "Budget review 2026")
    hits = search(user, "budget").hits
    assert [(h.conversation_id, h.message_id, h.role) for h in hits] == [(made.pk, None, "title")]


def test_edited_and_deleted_messages_leave_the_index(user):
    made = conversation(user, "T", ("user", "kumquat jam"))
    Message.objects.filter(conversation=made).update(content="apricot jam")
    assert search(user, "kumquat").hits == []
    assert len(search(user, "apricot").hits) == 1
    made.delete()
    assert search(user, "apricot").hits == []


def test_other_users_conversations_are_never_searched(user, other_user):
    conversation(other_user, "secret plans", ("user", "the secret is swordfish"))
    assert search(user, "swordfish").hits == [] and search(user, "secret").hits == []


@pytest.mark.parametrize("hostile", ['a"', "NEAR(a b)", "a OR b*", "col:secret", "'; DROP TABLE x; --",
                                     "^a -b"])
def test_fts_syntax_in_a_query_is_searched_as_words_not_run(user, hostile):
    conversation(user, "T", ("user", "drop a note near b"))
    search(user, hostile)  # never an SQL or FTS syntax error
    assert Conversation.objects.count() == 1
    assert [h.plain for h in search(user, "NEAR(note b)").hits] == ["drop a note near b"]


@pytest.mark.parametrize(("query", "error"), [
    ("", "Type at least one word to search for."),
    ("?!", "Type at least one word to search for."),
    ("x" * 201, "The search is 201 characters long; the limit is 200."),
])
def test_empty_or_too_long_queries_are_refused_clearly(user, query, error):
    with pytest.raises(SearchError, match=error.replace("?", r"\?").replace(".", r"\.")):
        search(user, query)
