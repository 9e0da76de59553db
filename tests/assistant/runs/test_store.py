"""Starting a run: one transaction, refused by the database itself when it must be."""

import importlib
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from assistant.models import Conversation, Message, Run
from assistant.runs import store
from assistant.runs.history import conversation_history

pytestmark = pytest.mark.django_db


def _start(convo, user, text="hello", **kwargs):
    return store.start_run(convo, user, text, max_steps=8, **kwargs)


def test_starting_a_run_stores_the_message_and_hands_over_the_history_it_starts_from(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    first = _start(convo, user, "first question")
    store.save_assistant_turn(first.run, uuid.uuid4(), content="first answer", tool_calls=[], input_tokens=1,
                              output_tokens=1, completes_run=True)
    second = _start(convo, user, "second question")
    assert second.created and second.message.position == 2 and second.run.next_position == 3
    assert second.run.history == conversation_history(convo.pk)
    assert [m.content for m in second.run.history] == ["first question", "first answer", "second question"]
    assert Conversation.objects.get(pk=convo.pk).title == "first question"


def test_a_second_run_is_refused_while_one_is_active_and_nothing_is_stored(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    active = _start(convo, user).run
    with pytest.raises(store.RunInProgress) as refused:
        _start(convo, user, "again")
    assert refused.value.run.pk == active.pk
    assert Message.objects.filter(conversation=convo).count() == 1 and convo.runs.count() == 1


def test_a_waiting_run_also_blocks_a_new_one(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    waiting = _start(convo, user).run
    assert waiting.claim(Run.Status.RUNNING, Run.Status.WAITING)
    with pytest.raises(store.RunInProgress):
        _start(convo, user, "again")


def test_the_database_itself_refuses_a_second_active_run(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8, status="waiting")
    Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8, status="completed")
    assert convo.runs.count() == 2


def test_a_repeated_client_id_returns_the_earlier_run_while_it_runs_and_after_it_ended(user):
    convo = Conversation.objects.create(owner=user, profile="demo")
    client_id = uuid.uuid4()
    first = _start(convo, user, client_id=client_id)
    repeat = _start(convo, user, client_id=client_id)
    assert not repeat.created and (repeat.run.pk, repeat.message.pk) == (first.run.pk, first.message.pk)
    store.finish_run(first.run, Run.Status.COMPLETED)
    again = _start(convo, user, client_id=client_id)
    assert not again.created and again.run.pk == first.run.pk
    assert convo.runs.count() == 1 and Message.objects.filter(conversation=convo).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_closes_all_but_the_newest_active_run_of_a_conversation(user):
    migration = importlib.import_module("assistant.migrations.0004_one_active_run")
    before, after = [("assistant", "0003_token_budgets")], [("assistant", "0004_one_active_run")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        OldConversation = apps.get_model("assistant", "Conversation")
        OldRun = apps.get_model("assistant", "Run")
        convo = OldConversation.objects.create(owner_id=user.pk, profile="demo")
        older = OldRun.objects.create(conversation=convo, user_id=user.pk, profile="demo", max_steps=8)
        newer = OldRun.objects.create(conversation=convo, user_id=user.pk, profile="demo", max_steps=8,
                                      status="waiting", created_at=older.created_at.replace(year=2100))
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
    closed, kept = Run.objects.get(pk=older.pk), Run.objects.get(pk=newer.pk)
    assert (closed.status, closed.error_code) == ("failed", "superseded") and closed.finished_at is not None
    assert kept.status == "waiting"
    assert list(Run.ACTIVE) == migration.ACTIVE


def test_a_run_that_finishes_while_a_new_one_is_refused_lets_the_new_one_start(user, monkeypatch):
    """The index refuses the new run; by the time the refusal is looked at, the active run
    has finished: the start is tried again instead of failing."""
    convo = Conversation.objects.create(owner=user, profile="demo")
    active = _start(convo, user).run
    real_start = store._start

    def refused_then_finished(*args, **kwargs):
        try:
            return real_start(*args, **kwargs)
        except IntegrityError:
            store.finish_run(active, Run.Status.COMPLETED)  # ... just after the refusal
            raise

    monkeypatch.setattr(store, "_start", refused_then_finished)
    started = _start(convo, user, "next question")
    assert started.created and started.run.pk != active.pk
    assert list(convo.runs.filter(status__in=Run.ACTIVE).values_list("pk", flat=True)) == [started.run.pk]


def test_a_final_answer_never_completes_a_run_that_recovery_closed_meanwhile(user):
    from assistant.runs import recovery

    run = _start(Conversation.objects.create(owner=user, profile="demo"), user).run
    assert recovery.close_run(Run.objects.get(pk=run.pk))  # the driver was presumed dead
    with pytest.raises(store.RunLost):
        store.save_assistant_turn(run, uuid.uuid4(), content="late answer", tool_calls=[], input_tokens=1,
                                  output_tokens=1, completes_run=True)
    run.refresh_from_db()
    assert (run.status, run.error_code) == (Run.Status.FAILED, "interrupted")
    assert not Message.objects.filter(run=run, role="assistant").exists()  # rolled back with it


def test_a_driver_whose_run_another_took_over_stores_nothing(user):
    run = _start(Conversation.objects.create(owner=user, profile="demo"), user).run
    run.driver = "old:1:a"
    Run.objects.filter(pk=run.pk).update(driver="new:2:b")
    with pytest.raises(store.RunLost):
        store.save_assistant_turn(run, uuid.uuid4(), content="x", tool_calls=[], input_tokens=0,
                                  output_tokens=0)
    assert not Message.objects.filter(run=run, role="assistant").exists()
    assert Run.objects.get(pk=run.pk).steps == 0
