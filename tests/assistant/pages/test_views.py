"""The chat pages over HTTP: who may see and change what, and that history renders safely."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from assistant.models import Conversation, Message, Run
from assistant.runs.engine import Engine

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


class Elements(HTMLParser):
    """The real tags and attributes of a page (text, however it looks, is not a tag)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def page_url(conversation: Conversation, action: str = "") -> str:
    name = f"conversation_{action}" if action else "conversation"
    return reverse(name, kwargs={"conversation_id": conversation.pk})


@pytest.fixture
def signed_in(client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def mine(user) -> Conversation:
    return Conversation.objects.create(owner=user, profile="demo", title="Mine")


@pytest.fixture
def theirs(other_user) -> Conversation:
    return Conversation.objects.create(owner=other_user, profile="demo", title="Theirs")


# --- who may see what --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", [
    ("get", "/"),
    ("get", "/c/{id}/"),
    ("post", "/c/new/"),
    ("post", "/c/{id}/rename/"),
    ("post", "/c/{id}/delete/"),
])
def test_anonymous_visitors_are_sent_to_the_login_page(client, mine, method, path):
    url = path.format(id=mine.pk)
    response = getattr(client, method)(url, {"title": "hacked"} if method == "post" else None)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    mine.refresh_from_db()
    assert mine.title == "Mine"
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_another_users_conversation_is_not_found(signed_in, theirs):
    assert signed_in.get(page_url(theirs)).status_code == 404


@pytest.mark.django_db
def test_a_conversation_that_does_not_exist_is_not_found(signed_in):
    assert signed_in.get(f"/c/{uuid.uuid4()}/").status_code == 404


@pytest.mark.django_db
def test_another_users_conversation_cannot_be_renamed(signed_in, theirs):
    assert signed_in.post(page_url(theirs, "rename"), {"title": "pwned"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"


@pytest.mark.django_db
def test_another_users_conversation_cannot_be_deleted(signed_in, theirs):
    assert signed_in.post(page_url(theirs, "delete")).status_code == 404
    assert Conversation.objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
def test_the_list_shows_only_the_users_own_conversations(signed_in, mine, theirs):
    response = signed_in.get("/")
    assert response.status_code == 200
    assert list(response.context["conversations"]) == [mine]
    body = response.content.decode()
    assert "Mine" in body and "Theirs" not in body
    assert str(theirs.pk) not in body


@pytest.mark.django_db
def test_the_conversation_sidebar_lists_only_the_users_own_conversations(signed_in, mine, theirs):
    body = signed_in.get(page_url(mine)).content.decode()
    assert str(theirs.pk) not in body and "Theirs" not in body


# --- changing things ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_owner_can_rename_a_conversation(signed_in, mine):
    response = signed_in.post(page_url(mine, "rename"), {"title": "  Trip planning  "})
    assert response.status_code == 302
    assert response["Location"] == page_url(mine)
    mine.refresh_from_db()
    assert mine.title == "Trip planning"


@pytest.mark.django_db
def test_renaming_returns_to_the_page_it_was_posted_from_but_never_off_site(signed_in, mine):
    back = signed_in.post(page_url(mine, "rename"), {"title": "A", "next": "/"})
    assert back["Location"] == "/"
    away = signed_in.post(page_url(mine, "rename"), {"title": "B", "next": "https://evil.example/"})
    assert away["Location"] == page_url(mine)


@pytest.mark.django_db
def test_a_blank_title_is_refused(signed_in, mine):
    signed_in.post(page_url(mine, "rename"), {"title": "   "})
    mine.refresh_from_db()
    assert mine.title == "Mine"


@pytest.mark.django_db
def test_the_owner_can_delete_a_conversation_with_its_messages(signed_in, mine, user):
    run = Run.objects.create(conversation=mine, user=user, profile="demo", max_steps=8)
    Message.objects.create(conversation=mine, run=run, position=0, role="user", content="hi")
    response = signed_in.post(page_url(mine, "delete"))
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Conversation.objects.filter(pk=mine.pk).exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["rename", "delete"])
def test_changes_need_a_post(signed_in, mine, action):
    assert signed_in.get(page_url(mine, action)).status_code == 405
    assert Conversation.objects.filter(pk=mine.pk, title="Mine").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["rename", "delete"])
def test_changes_are_csrf_protected(user, mine, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(page_url(mine, action), {"title": "x"}).status_code == 403
    assert Conversation.objects.filter(pk=mine.pk, title="Mine").exists()


@pytest.mark.django_db
def test_a_new_conversation_uses_the_chosen_profile(signed_in, user):
    response = signed_in.post("/c/new/", {"profile": "demo"})
    conversation = Conversation.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == page_url(conversation)
    assert conversation.profile == "demo"


@pytest.mark.django_db
def test_a_new_conversation_without_a_profile_uses_the_default_one(signed_in, user):
    signed_in.post("/c/new/")
    assert Conversation.objects.get(owner=user).profile == "demo"


@pytest.mark.django_db
def test_an_unknown_profile_is_refused(signed_in, user):
    response = signed_in.post("/c/new/", {"profile": "gpt-17-ultra"})
    assert response.status_code == 400
    assert "gpt-17-ultra is not one of the available choices" in response.content.decode()
    assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_the_profile_picker_offers_the_configured_profiles(signed_in, settings):
    settings.LLM_PROFILES = json.dumps({"local": {"provider": "openai_compatible", "model": "llama3.1",
                                                  "base_url": "http://127.0.0.1:11434/v1"}})
    tags = Elements(signed_in.get("/").content.decode()).tags
    start = next(i for i, (tag, attrs) in enumerate(tags)
                 if tag == "select" and attrs.get("name") == "profile")
    options = []
    for tag, attrs in tags[start + 1:]:  # up to the next select (the top bar's language is another)
        if tag == "select":
            break
        if tag == "option":
            options.append(attrs.get("value"))
    assert options == ["local", "demo"]


# --- what the conversation page shows ------------------------------------------------------------


@pytest.mark.django_db
def test_the_demo_banner_is_shown_only_for_a_demo_conversation(signed_in, user, settings):
    settings.LLM_PROFILES = json.dumps({"local": {"provider": "openai_compatible", "model": "llama3.1",
                                                  "base_url": "http://127.0.0.1:11434/v1"}})
    demo = Conversation.objects.create(owner=user, profile="demo")
    local = Conversation.objects.create(owner=user, profile="local")
    banner = "Demo mode:</strong> a rule-based stand-in, not a language model."
    assert banner in signed_in.get(page_url(demo)).content.decode()
    assert banner not in signed_in.get(page_url(local)).content.decode()


@pytest.mark.django_db
def test_the_page_tells_its_script_where_to_resume(signed_in, mine, user):
    Conversation.objects.filter(pk=mine.pk).update(last_seq=42)
    run = Run.objects.create(conversation=mine, user=user, profile="demo", max_steps=8, status="waiting")
    response = signed_in.get(page_url(mine))
    found = re.search(r'<script id="chat-config" type="application/json">(.*?)</script>',
                      response.content.decode())
    assert found is not None
    config = json.loads(found[1])
    assert config == {"conversationId": str(mine.pk), "afterSeq": 42,
                      "run": {"id": str(run.pk), "status": "waiting"}, "maxChars": 20_000,
                      "autoSend": None}
    assert "Waiting for approval" in response.content.decode()


@pytest.mark.django_db
def test_the_page_has_no_inline_script(signed_in, mine):
    scripts = [attrs for tag, attrs in Elements(signed_in.get(page_url(mine)).content.decode()).tags
               if tag == "script"]
    assert scripts, "the page loads its modules"
    for attrs in scripts:
        assert attrs.get("src") or attrs.get("type") == "application/json", attrs


@pytest.mark.django_db(transaction=True)
def test_history_is_rendered_with_tool_cards_from_the_stored_run(client, user):
    client.force_login(user)
    conversation = Conversation.objects.create(owner=user, profile="demo")
    async_to_sync(Engine().send)(conversation, user, "what is 12*7")

    body = client.get(page_url(conversation)).content.decode()

    assert '<div class="msg-body msg-text">what is 12*7</div>' in body
    assert 'data-status="ok"' in body and "<code class=\"tool-name\">calculator</code>" in body
    assert "&quot;result&quot;: 84" in body
    assert "<p>12*7 = 84</p>" in body


@pytest.mark.django_db(transaction=True)
def test_user_model_and_tool_output_in_the_history_is_inert(client, user):
    client.force_login(user)
    conversation = Conversation.objects.create(owner=user, profile="demo")
    send = async_to_sync(Engine().send)
    send(conversation, user, f"note: {XSS} [click](javascript:alert(3))")
    send(conversation, user, "find my notes about onerror")
    assert Message.objects.filter(conversation=conversation, content__contains="<img").count() == 2

    body = client.get(page_url(conversation)).content.decode()

    tags = Elements(body).tags
    assert not [t for t, _ in tags if t in ("img", "iframe")]
    assert [a for t, a in tags if t == "script"] == [a for t, a in tags if t == "script" and (
        a.get("src") or a.get("type") == "application/json")]
    assert not [a for t, a in tags if any(k.startswith("on") for k in a)]
    assert not [a for t, a in tags if "javascript:" in (a.get("href") or "").lower()]
    escaped = "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    assert body.count(escaped) >= 3  # the user's message, the tool result, the model's answer


@pytest.mark.django_db
def test_a_failed_run_shows_its_error(signed_in, mine, user):
    run = Run.objects.create(conversation=mine, user=user, profile="demo", max_steps=8, status="failed",
                             error_code="provider_timeout", error="The model took too long <b>to answer</b>.")
    Message.objects.create(conversation=mine, run=run, position=0, role="user", content="hello")
    body = signed_in.get(page_url(mine)).content.decode()
    assert "The model took too long &lt;b&gt;to answer&lt;/b&gt;." in body
    assert f'data-run-id="{run.pk}"' in body


@pytest.mark.django_db
def test_signing_out_shows_the_apps_own_page(signed_in):
    response = signed_in.post(reverse("logout"))
    assert response.status_code == 200
    assert "You are signed out." in response.content.decode()
    assert signed_in.get("/").status_code == 302


@pytest.mark.django_db
def test_a_turn_offered_a_selection_of_tools_discloses_it_escaped(signed_in, mine, user):
    run = Run.objects.create(conversation=mine, user=user, profile="demo", max_steps=8, status="completed")
    Message.objects.create(conversation=mine, run=run, position=0, role="user", content="weather?")
    Message.objects.create(conversation=mine, run=run, position=1, role="assistant", content="Sunny.",
                           offered_tools={"selected": True, "available": 300,
                                          "names": ["get_weather", XSS, "search_tools"]})
    Message.objects.create(conversation=mine, run=run, position=2, role="assistant", content="Again.",
                           offered_tools={"selected": False, "available": 12, "names": ["add"]})
    body = signed_in.get(page_url(mine)).content.decode()
    assert "<summary>offered 3 of 300 tools</summary>" in body
    assert "get_weather, &lt;img src=x onerror=alert(1)&gt;" in body and XSS not in body
    assert body.count("msg-offered") == 1  # the whole catalog offered: nothing to disclose
    offered = [attrs for tag, attrs in Elements(body).tags if "msg-offered" in (attrs.get("class") or "")]
    assert offered == [{"class": "msg-meta msg-offered"}]  # a plain disclosure: no inline style or script
