import pytest

from assistant.models import Conversation


def test_title_is_the_first_line_with_whitespace_folded():
    assert Conversation.title_from("  what   is 12*7?\nand more") == "what is 12*7?"


def test_long_titles_are_cut_at_a_word_with_an_ellipsis():
    title = Conversation.title_from("please " * 30)
    assert len(title) <= 61
    assert title.endswith("please…")


def test_an_empty_message_gets_a_placeholder_title():
    assert Conversation.title_from("   ") == "New conversation"


@pytest.mark.django_db
def test_conversations_are_only_visible_to_their_owner(user, other_user):
    mine = Conversation.objects.create(owner=user, profile="demo")
    Conversation.objects.create(owner=other_user, profile="demo")
    assert list(Conversation.objects.owned_by(user)) == [mine]
    assert not Conversation.objects.owned_by(None).exists()
