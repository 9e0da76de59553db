"""The chat socket's error messages come in the page's language (saved choice, else browser)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from assistant.models import Conversation, Preference

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10


@pytest.fixture
def app(settings: Any) -> Any:
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    import assistant.asgi

    return importlib.reload(assistant.asgi).application


async def error_for(app: Any, user: Any, frame: str, accept_language: str | None) -> dict[str, Any]:
    client = AsyncClient()
    await client.aforce_login(user)
    conversation = await Conversation.objects.acreate(owner=user, profile="demo")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    socket = WebsocketCommunicator(app, f"/ws/conversations/{conversation.pk}/", headers=headers)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    try:
        await socket.send_to(text_data=frame)
        return json.loads(await socket.receive_from(timeout=TIMEOUT))
    finally:
        await socket.disconnect()


async def test_errors_follow_the_browser_language(app, user):
    german = await error_for(app, user, "[1]", "de-DE,de;q=0.9")
    assert german["code"] == "bad_frame"
    assert german["message"] == "Frames müssen JSON-Objekte mit einem String \"type\" sein."
    english = await error_for(app, user, "[1]", None)
    assert english["message"] == 'Frames must be JSON objects with a string "type".'


async def test_the_saved_language_wins_over_the_browser_on_the_socket(app, user):
    await Preference.objects.acreate(user=user, language="de")
    refused = await error_for(app, user, json.dumps({"type": "run.cancel"}), "en-US")
    assert (refused["code"], refused["message"]) == (
        "no_active_run", "Es gibt keine laufende Antwort, die abgebrochen werden könnte.")


async def test_one_sockets_language_does_not_leak_into_another(app, user, other_user):
    await Preference.objects.acreate(user=user, language="de")
    german = await error_for(app, user, '{"type": "nope"}', None)
    english = await error_for(app, other_user, '{"type": "nope"}', None)
    assert german["message"].startswith("Unbekannter Frame-Typ 'nope'")
    assert english["message"] == "Unknown frame type 'nope'; expected 'user.message' or 'run.cancel'."
