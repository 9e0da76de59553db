"""``POST /c/<uuid>/profile/``: the chat page's model menu, as a form post and as JSON (issue 14)."""

from __future__ import annotations

import pytest

from assistant.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def convo(user):
    return Conversation.objects.create(owner=user, profile="demo")


def test_a_form_post_switches_and_says_so(signed_in, convo, settings):
    settings.LLM_PROFILES = '{"other": {"provider": "demo", "label": "Other demo"}}'
    response = signed_in.post(f"/c/{convo.pk}/profile/", {"profile": "other"}, follow=True)
    assert Conversation.objects.get(pk=convo.pk).profile == "other"
    assert "The next answers come from Other demo." in response.content.decode()


def test_json_answers_name_the_profile_or_the_refusal(signed_in, convo, settings):
    settings.LLM_PROFILES = '{"other": {"provider": "demo", "label": "Other demo"}}'
    ok = signed_in.post(f"/c/{convo.pk}/profile/", {"profile": "other"}, HTTP_ACCEPT="application/json")
    assert ok.json() == {"profile": {"name": "other", "label": "Other demo"}, "changed": True}
    refused = signed_in.post(f"/c/{convo.pk}/profile/", {"profile": "<b>x</b>"},
                             HTTP_ACCEPT="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "There is no model profile named “<b>x</b>”; choose one of: demo, other.")
    assert Conversation.objects.get(pk=convo.pk).profile == "other"


def test_another_users_conversation_is_not_found(client, other_user, convo):
    client.force_login(other_user)
    response = client.post(f"/c/{convo.pk}/profile/", {"profile": "demo"})
    assert response.status_code == 404


def test_every_answer_is_labelled_with_the_profile_that_wrote_it(signed_in, convo, settings):
    from assistant.models import Message, Run

    settings.LLM_PROFILES = '{"other": {"provider": "demo", "label": "Other demo"}}'
    for position, profile in ((0, "demo"), (2, "other")):
        run = Run.objects.create(conversation=convo, profile=profile, max_steps=5, status="completed")
        Message.objects.create(conversation=convo, run=run, position=position, role="user", content="q")
        Message.objects.create(conversation=convo, run=run, position=position + 1, role="assistant",
                               content=f"from {profile}")
    page = signed_in.get(f"/c/{convo.pk}/").content.decode()
    first, second = page.index("from demo"), page.index("from other")
    assert first < page.index('data-profile="demo">Answered by Demo') < second
    assert second < page.index('data-profile="other">Answered by Other demo<')
