import io
import sys

import pytest
from django.core.management import CommandError, call_command

from assistant.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


def chat(monkeypatch, lines: str, **options):
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    out, err = io.StringIO(), io.StringIO()
    call_command("chat", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_piped_input_streams_replies_shows_tool_calls_and_exits_at_end(monkeypatch, user):
    out, err = chat(monkeypatch, "what is 12*7\n", user="alice", profile="demo")
    assert "[tool] calculator" in out
    assert "84" in out
    convo = Conversation.objects.get(owner=user)
    assert "conversation " + str(convo.pk) in err
    assert list(Message.objects.filter(conversation=convo).values_list("role", flat=True)) == [
        "user", "assistant", "tool", "assistant"]


def test_continuing_a_conversation_appends_to_it(monkeypatch, user):
    chat(monkeypatch, "what is 2+2\n", user="alice", profile="demo")
    convo = Conversation.objects.get(owner=user)
    chat(monkeypatch, "what is 3+3\n", user="alice", conversation=str(convo.pk))
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation=convo, role="user").count() == 2


def test_an_unknown_user_is_a_clear_error(monkeypatch):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        chat(monkeypatch, "", user="nobody")


def test_someone_elses_conversation_cannot_be_continued(monkeypatch, user, other_user):
    theirs = Conversation.objects.create(owner=other_user, profile="demo")
    with pytest.raises(CommandError, match="no conversation"):
        chat(monkeypatch, "hi\n", user="alice", conversation=str(theirs.pk))


def test_recover_runs_closes_runs_left_running_and_leaves_waiting_ones(user):
    from assistant.models import Run

    convo, other = (Conversation.objects.create(owner=user, profile="demo") for _ in range(2))
    stuck = Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8)
    waiting = Run.objects.create(conversation=other, user=user, profile="demo", max_steps=8, status="waiting")
    out = io.StringIO()
    call_command("recover_runs", stdout=out)
    stuck.refresh_from_db()
    waiting.refresh_from_db()
    assert stuck.status == "failed" and stuck.error_code == "interrupted"
    assert waiting.status == "waiting"
    assert "1 interrupted run(s) closed." in out.getvalue()


def test_a_retried_turn_tells_the_terminal_to_disregard_the_broken_text(monkeypatch, user, fake_llm,
                                                                       settings):
    from tests.assistant.runs.engine_helpers import use_fake_profiles
    from tests.fakes.scripts import text

    use_fake_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(text("Broken half of it", chunks=3).fault("cut", "text"), text("All of it."))
    out, err = chat(monkeypatch, "hello\n", user="alice", profile="fake-openai")
    broken, _, after = out.partition("[retrying, attempt 2:")
    assert broken.strip().startswith("Broken") and "disregard the text above]" in after
    assert after.rstrip().endswith("All of it.")
