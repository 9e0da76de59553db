"""The cached history is always what a fresh read of the database gives."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message
from assistant.runs import history_cache
from assistant.runs.history import conversation_history

pytestmark = pytest.mark.django_db


def add(convo, position, role, **fields):
    return Message.objects.create(conversation=convo, position=position, role=role, **fields)


def test_rows_written_since_the_last_read_by_anyone_are_read_and_appended(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    add(convo, 0, "user", content="hi")
    add(convo, 1, "assistant", content="hello")
    first, next_position = history_cache.history_from(convo.pk)
    assert [m.content for m in first] == ["hi", "hello"] and next_position == 2
    # another process answers with a tool round and an interrupted reply
    add(convo, 2, "user", content="add")
    add(convo, 3, "assistant", tool_calls=[{"id": "c1", "name": "add", "arguments": "{}"}])
    add(convo, 4, "tool", tool_results=[{"call_id": "c1", "name": "add", "content": "3"}])
    add(convo, 5, "assistant", content="partial", status="interrupted",
        tool_calls=[{"id": "c2", "name": "add", "arguments": "{"}])
    second, next_position = history_cache.history_from(convo.pk)
    assert second == conversation_history(convo.pk) and next_position == 6
    assert second[-1].tool_calls == ()  # an interrupted turn keeps its text only, as a fresh read


def test_returned_lists_are_copies_the_caller_may_extend(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    add(convo, 0, "user", content="hi")
    history, _ = history_cache.history_from(convo.pk)
    history.append("not stored")
    assert len(history_cache.history_from(convo.pk)[0]) == 1


def test_the_cache_is_bounded(user, monkeypatch):
    monkeypatch.setattr(history_cache, "SIZE", 3)
    history_cache.forget()
    convos = [Conversation.objects.create(owner=user, profile="demo") for _ in range(5)]
    for convo in convos:
        history_cache.history_from(convo.pk)
    assert list(history_cache._cache) == [str(c.pk) for c in convos[-3:]]
