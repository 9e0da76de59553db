"""Plain-SQL inserts and updates store exactly what the ORM would, and refuse what they can't do."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from assistant.models import Conversation, Message, Run
from tools import rows
from tools.models import ToolCall

pytestmark = pytest.mark.django_db


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_insert_stores_every_field_as_the_orm_reads_it_back():
    owner = get_user_model().objects.create(username="ada")
    convo = Conversation.objects.create(owner=owner, profile="demo")
    message = rows.insert(Message(
        conversation=convo, position=0, role=Message.Role.ASSISTANT, content="héllo",
        tool_calls=[{"id": "call_1", "name": "add", "arguments": '{"a": 1}'}], client_id=uuid.uuid4(),
    ))
    assert message._state.adding is False and message._state.db == "default"
    assert _fields(Message.objects.get(pk=message.pk)) == _fields(message)


def test_insert_sets_the_automatic_primary_key_and_applies_defaults():
    first = rows.insert(ToolCall(call_id="c1", tool_name="add", status=ToolCall.Status.RUNNING,
                                 arguments={"a": 1, "nested": [None, True]}))
    second = rows.insert(ToolCall(call_id="c2", tool_name="add", status=ToolCall.Status.RUNNING))
    assert isinstance(first.pk, int) and second.pk == first.pk + 1
    stored = ToolCall.objects.get(pk=first.pk)
    assert stored.arguments == {"a": 1, "nested": [None, True]}
    assert stored.attempts == 0 and stored.result is None and stored.idempotency_key is None


def test_insert_obeys_the_database_constraints():
    rows.insert(ToolCall(call_id="c1", tool_name="add", status="running", idempotency_key="k"))
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(ToolCall(call_id="c2", tool_name="add", status="running", idempotency_key="k"))
    assert ToolCall.objects.filter(idempotency_key="k").count() == 1


def test_update_changes_only_the_named_row_and_columns():
    owner = get_user_model().objects.create(username="ada")
    convo = Conversation.objects.create(owner=owner, profile="demo")
    runs = [Run.objects.create(conversation=convo, user=owner, profile="demo", max_steps=8, status=status)
            for status in (Run.Status.RUNNING, Run.Status.FAILED)]
    later = timezone.now() + timedelta(minutes=5)
    assert rows.update(Run, runs[0].pk, steps=3, status=Run.Status.COMPLETED, finished_at=later) == 1
    changed, untouched = Run.objects.get(pk=runs[0].pk), Run.objects.get(pk=runs[1].pk)
    assert (changed.steps, changed.status, changed.finished_at) == (3, "completed", later)
    assert changed.error == ""
    assert changed.profile == "demo" and changed.updated_at == runs[0].updated_at
    assert _fields(untouched) == _fields(runs[1])


def test_update_of_a_missing_row_changes_nothing():
    assert rows.update(ToolCall, 999_999, status="failed") == 0


def test_update_accepts_a_foreign_key_by_name_or_column():
    owner = get_user_model().objects.create(username="ada")
    convo = Conversation.objects.create(owner=owner, profile="demo")
    run = Run.objects.create(conversation=convo, user=owner, profile="demo", max_steps=8)
    message = Message.objects.create(conversation=convo, position=0, role="user", content="hi")
    rows.update(Message, message.pk, run_id=run.pk)
    assert Message.objects.get(pk=message.pk).run_id == run.pk
    rows.update(Message, message.pk, run=None)
    assert Message.objects.get(pk=message.pk).run_id is None


def test_update_refuses_expressions_and_names_that_are_not_columns():
    from django.db.models import F

    with pytest.raises(TypeError, match=r"steps=F\(steps\) is an expression"):
        rows.update(Run, 1, steps=F("steps"))
    with pytest.raises(ValueError, match=r"assistant\.Conversation\.messages is not a column"):
        rows.update(Conversation, 1, messages=[])


def test_fetch_reads_matching_rows_in_order_converted_like_a_queryset():
    owner = get_user_model().objects.create(username="ada")
    convo, other = (Conversation.objects.create(owner=owner, profile="demo") for _ in range(2))
    for position in (2, 0, 1):
        Message.objects.create(conversation=convo, position=position, role="assistant", content=str(position),
                               tool_calls=[{"id": f"c{position}"}])
    Message.objects.create(conversation=other, position=0, role="user", content="elsewhere")
    fetched = rows.fetch(Message, conversation_id=convo.pk, order_by="position")
    expected = list(Message.objects.filter(conversation=convo).order_by("position"))
    assert [_fields(m) for m in fetched] == [_fields(m) for m in expected]
    assert [m.content for m in fetched] == ["0", "1", "2"] and fetched[0].tool_calls == [{"id": "c0"}]
    assert rows.fetch(Message, conversation_id=uuid.uuid4()) == []


def test_update_can_return_columns_of_the_changed_row_in_the_same_statement():
    owner = get_user_model().objects.create(username="ada")
    convo = Conversation.objects.create(owner=owner, profile="demo")
    run = Run.objects.create(conversation=convo, user=owner, profile="demo", max_steps=8,
                             cancel_requested=True)
    returned = rows.update(Run, run.pk, steps=2, returning=("cancel_requested", "max_steps"))
    assert (bool(returned[0]), returned[1]) == (True, 8)  # SQLite: booleans are 1 or 0
    assert rows.update(Run, uuid.uuid4(), steps=2, returning=("steps",)) is None


def test_insert_unless_conflict_skips_a_row_that_breaks_a_unique_constraint():
    assert rows.insert_unless_conflict(ToolCall(call_id="c1", tool_name="add", status="running",
                                                idempotency_key="k"))
    assert not rows.insert_unless_conflict(ToolCall(call_id="c2", tool_name="add", status="running",
                                                    idempotency_key="k"))
    assert list(ToolCall.objects.values_list("call_id", flat=True)) == ["c1"]


def test_values_reads_named_columns_of_one_row():
    record = rows.insert(ToolCall(call_id="c1", tool_name="add", status="running", attempts=2))
    assert rows.values(ToolCall, record.pk, "tool_name", "attempts") == ("add", 2)
    assert rows.values(ToolCall, record.pk + 1, "tool_name") is None


def test_a_conditional_update_changes_the_row_only_when_its_conditions_hold():
    owner = get_user_model().objects.create(username="ada")
    convo = Conversation.objects.create(owner=owner, profile="demo")
    run = Run.objects.create(conversation=convo, user=owner, profile="demo", max_steps=8, driver="me")
    assert rows.update(Run, run.pk, where={"status": "running", "driver": "someone-else"}, steps=5) == 0
    assert rows.update(Run, run.pk, returning=("steps",), where={"driver": "someone-else"}, steps=5) is None
    assert rows.update(Run, run.pk, returning=("steps",), where={"status": "running", "driver": "me"},
                       steps=5) == (5,)
    run.refresh_from_db()
    assert run.steps == 5
