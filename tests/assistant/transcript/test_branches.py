"""Edit and resend, regenerate and retry make a branch; the original is never changed."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message, Run
from assistant.transcript.branches import BranchError, branch

pytestmark = pytest.mark.django_db


def conversation_with(user, *texts: tuple[str, str]) -> Conversation:
    conversation = Conversation.objects.create(owner=user, profile="demo", title="Trip")
    for position, (role, content) in enumerate(texts):
        Message.objects.create(conversation=conversation, position=position, role=role, content=content)
    return conversation


def test_a_branch_copies_the_messages_before_the_chosen_one_and_leaves_the_original(user):
    original = conversation_with(user, ("user", "plan a trip"), ("assistant", "Where to?"),
                                 ("user", "Oslo"), ("assistant", "Nice."))
    second = original.messages.get(position=2)
    made = branch(original, second.pk, "Bergen")
    copy = made.conversation
    assert made.text == "Bergen"
    assert list(copy.messages.order_by("position").values_list("role", "content")) == [
        ("user", "plan a trip"), ("assistant", "Where to?")]
    assert copy.branched_from == original and copy.owner == user and copy.profile == "demo"
    assert copy.title == "Trip (branch)"
    assert original.messages.count() == 4  # nothing cut, nothing lost


def test_regenerating_sends_the_same_text_again(user):
    original = conversation_with(user, ("user", "hello"), ("assistant", "Hi!"))
    made = branch(original, original.messages.get(position=0).pk)
    assert made.text == "hello" and made.conversation.messages.count() == 0
    assert made.conversation.title == ""  # its own first message will name it


@pytest.mark.parametrize(("message", "content", "error"), [
    ("assistant", None, "not one of your messages"),
    ("user", "   ", "The edited message is empty."),
    ("user", "x" * 30, "is 30 characters long and the limit is 20"),
])
def test_bad_branch_requests_are_refused_clearly(user, settings, message, content, error):
    settings.ASSISTANT_MAX_MESSAGE_CHARS = 20
    original = conversation_with(user, ("user", "hello"), ("assistant", "Hi!"))
    target = original.messages.get(role=message)
    with pytest.raises(BranchError, match=error):
        branch(original, target.pk, content)
    assert Conversation.objects.count() == 1


def test_no_branch_while_a_reply_is_in_progress(user):
    original = conversation_with(user, ("user", "hello"))
    Run.objects.create(conversation=original, user=user, profile="demo", max_steps=8)
    with pytest.raises(BranchError, match="still in progress"):
        branch(original, original.messages.get().pk)


def test_another_users_message_cannot_be_branched(user, other_user):
    mine = conversation_with(user, ("user", "hello"))
    theirs = conversation_with(other_user, ("user", "secret"))
    with pytest.raises(BranchError):
        branch(mine, theirs.messages.get().pk)
