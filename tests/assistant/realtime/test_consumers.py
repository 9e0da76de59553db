"""The chat WebSocket, end to end through the real ASGI application (docs/protocol.md).

Sockets go through ``assistant.asgi.application``, so the origin check, the session
cookie and the auth middleware are the ones production runs. Runs are real too: the
offline demo profile for tool rounds, a profile pointed at the scripted fake LLM server
for streamed replies, failures and slow streams.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from assistant.models import Conversation, Message, Run
from assistant.realtime import delivery as realtime
from assistant.realtime.delivery import Publisher, event_log
from assistant.runs import chat
from tests.assistant.runs.engine_helpers import use_fake_profiles
from tests.fakes.scripts import error, split, text, words

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://localhost"
TIMEOUT = 10  # seconds: only a bound that proves nothing hangs
CALCULATION = "what is 12*7"

Opener = Callable[..., Awaitable[WebsocketCommunicator]]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def app(settings: Any) -> Any:
    """The production ASGI application, built (as at server start) with these allowed hosts.

    ``AllowedHostsOriginValidator`` reads ``ALLOWED_HOSTS`` once, when the application is
    built, so the module is reloaded after the setting is in place.
    """
    settings.ALLOWED_HOSTS = ["localhost"]
    import assistant.asgi

    return importlib.reload(assistant.asgi).application


@pytest.fixture(autouse=True)
async def _fresh_realtime(settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """A fresh event log and channel layer per test (as after a restart), and no run left behind."""
    monkeypatch.setattr(realtime, "_log", None)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"capacity": 5000}}}
    yield
    await asyncio.wait_for(chat.wait_idle(), TIMEOUT)


@pytest.fixture
def fake(fake_llm: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    use_fake_profiles(settings, monkeypatch, fake_llm, max_retries=0)
    return fake_llm


@pytest.fixture
async def open_socket(app: Any) -> AsyncIterator[Opener]:
    """``await open_socket(conversation_id, cookie, after=None, origin=ORIGIN)`` → a connected
    communicator (the handshake accepted); every socket is closed at the end of the test."""
    sockets: list[WebsocketCommunicator] = []

    async def open_(conversation_id: Any, cookie: str | None, *, after: Any = None,
                    origin: str = ORIGIN) -> WebsocketCommunicator:
        socket = communicator(app, conversation_id, cookie, after=after, origin=origin)
        sockets.append(socket)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        return socket

    yield open_
    for socket in sockets:
        await socket.disconnect()


@pytest.fixture
async def alice(user: Any) -> str:
    return await session_cookie(user)


# --- helpers --------------------------------------------------------------------------------


def communicator(app: Any, conversation_id: Any, cookie: str | None, *, after: Any = None,
                 origin: str | None = ORIGIN) -> WebsocketCommunicator:
    path = f"/ws/conversations/{conversation_id}/" + ("" if after is None else f"?after={after}")
    headers = [] if origin is None else [(b"origin", origin.encode())]
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(app, path, headers=headers)


async def session_cookie(user: Any) -> str:
    """Sign in the way a browser does and return the session cookie's value."""
    client = AsyncClient()
    await client.aforce_login(user)
    return client.cookies["sessionid"].value


def message(content: str, client_id: Any = None) -> dict[str, Any]:
    return {"type": "user.message", "content": content, "client_id": str(client_id or uuid.uuid4())}


async def receive(socket: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=TIMEOUT))


async def until(socket: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the first of type ``kind``."""
    events = []
    while True:
        events.append(await receive(socket))
        if events[-1]["type"] == kind:
            return events


async def closed_with(socket: WebsocketCommunicator) -> int:
    output = await socket.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close"
    return output["code"]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def squeezed(kinds: list[str]) -> list[str]:
    """Event types with runs of ``assistant.delta`` (a burst may be merged) and of
    ``tool.call.delta`` (coalesced by time and size) folded into one."""
    folded = ("assistant.delta", "tool.call.delta")
    return [k for i, k in enumerate(kinds) if not (k in folded and kinds[i - 1 : i] == [k])]


def seqs(events: list[dict[str, Any]]) -> list[int]:
    """The logged events' seqs (ephemeral ``tool.call.delta`` events have none)."""
    return [e["seq"] for e in events if e["type"] != "tool.call.delta"]


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """The (tag, attributes) of every element in ``html``, as a browser would parse them."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def streamed(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "assistant.delta")


async def conversation_for(user: Any, profile: str = "demo", **fields: Any) -> Conversation:
    return await Conversation.objects.acreate(owner=user, profile=profile, **fields)


async def works(socket: WebsocketCommunicator) -> None:
    """A valid message on this socket is processed to the end (the socket is still open)."""
    await socket.send_json_to(message(CALCULATION))
    events = await until(socket, "run.finished")
    assert events[0]["type"] == "message.created" and events[-1]["run"]["status"] == "completed"


# --- who may connect ------------------------------------------------------------------------


async def test_an_anonymous_visitor_is_accepted_then_closed_with_4401(open_socket, user):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, None)
    assert await closed_with(socket) == 4401


async def test_another_users_conversation_is_closed_with_4403(open_socket, user, other_user):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, await session_cookie(other_user))
    assert await closed_with(socket) == 4403


async def test_a_conversation_that_does_not_exist_is_closed_like_a_foreign_one(open_socket, alice):
    socket = await open_socket(uuid.uuid4(), alice)
    assert await closed_with(socket) == 4403


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example", None])
async def test_a_foreign_or_missing_origin_is_refused_during_the_handshake(app, user, alice, origin):
    conversation = await conversation_for(user)
    socket = communicator(app, conversation.pk, alice, origin=origin)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert not connected
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_the_owner_with_an_allowed_origin_is_connected_and_sent_nothing_yet(open_socket, user, alice):
    socket = await open_socket((await conversation_for(user)).pk, alice)
    assert await socket.receive_nothing(timeout=0.2)


async def test_a_conversation_deleted_while_connected_closes_the_socket_with_4403(open_socket, user, alice):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await conversation.adelete()  # in another tab
    await socket.send_json_to(message(CALCULATION))
    assert await closed_with(socket) == 4403
    assert not await Message.objects.filter(conversation_id=conversation.pk).aexists()


# --- a run's events -------------------------------------------------------------------------


async def test_a_tool_round_streams_every_event_in_order(open_socket, user, alice):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message(CALCULATION))
    events = await until(socket, "run.finished")

    assert squeezed(types(events)) == ["message.created", "tool.call.delta", "tool.call", "tool.result",
                                       "assistant.delta", "assistant.message", "run.finished"]
    assert all(e["conversation_id"] == str(conversation.pk) for e in events)
    # The streamed arguments are ephemeral (issue 16): no seq, the logged events' seqs have no gap.
    streamed_args = [e for e in events if e["type"] == "tool.call.delta"]
    events = [e for e in events if e["type"] != "tool.call.delta"]
    assert all("seq" not in e and e["after_seq"] == 1 for e in streamed_args)
    assert "".join(e["delta"] for e in streamed_args) == '{"expression": "12*7"}'
    assert seqs(events) == list(range(1, len(events) + 1))
    created, call, result, *_, answer, finished = events
    assert created["message"]["role"] == "user" and created["message"]["content"] == CALCULATION
    assert set(created["message"]) == {"id", "role", "content", "status", "created_at"}
    assert call["tool_call"]["name"] == "calculator" and call["tool_call"]["status"] == "running"
    assert json.loads(call["tool_call"]["arguments"]) == {"expression": "12*7"}
    assert result["tool_call"]["id"] == call["tool_call"]["id"]
    assert result["tool_call"]["status"] == "ok" and result["tool_call"]["result"]["result"] == 84
    assert isinstance(result["tool_call"]["record_id"], int) and "duration_ms" in result["tool_call"]
    assert streamed(events) == answer["message"]["content"] == "12*7 = 84"
    assert {e["message_id"] for e in events if e["type"] == "assistant.delta"} == {answer["message"]["id"]}
    assert answer["message"]["html"] == "<p>12*7 = 84</p>\n"
    assert finished["run"]["status"] == "completed" and finished["run"]["steps"] == 2
    assert finished["run"]["usage"]["output_tokens"] > 0
    run = await Run.objects.aget(pk=finished["run"]["id"])
    assert run.status == Run.Status.COMPLETED and run.conversation_id == conversation.pk


async def test_the_final_message_carries_sanitised_html_while_deltas_stay_plain_text(
        open_socket, fake, user, alice):
    hostile = ('**Bold** <script>alert(1)</script> <img src=x onerror=alert(2)> '
               '[link](javascript:alert(3)) [ok](https://example.com)')
    fake.script_openai(text(hostile, chunks=6))
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("be hostile"))
    events = await until(socket, "run.finished")

    assert squeezed(types(events)) == ["message.created", "assistant.delta", "assistant.message",
                                       "run.finished"]
    assert streamed(events) == hostile  # deltas are the raw text: the page shows them as text
    html = events[-2]["message"]["html"]
    tags = elements(html)
    assert [name for name, _ in tags] == ["p", "strong", "a"]  # no script, no img
    assert tags[2][1]["href"] == "https://example.com"  # the javascript: link is not a link
    assert "&lt;script&gt;" in html  # the markup the model wrote is shown as text
    assert seqs(events) == list(range(1, len(events) + 1))


async def test_a_failed_run_sends_an_error_event_with_a_seq_then_run_finished(open_socket, fake, user, alice):
    fake.script_openai(error(401))
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("hello"))
    events = await until(socket, "run.finished")

    assert types(events) == ["message.created", "error", "run.finished"]
    assert events[1]["code"] == "provider_authentication" and events[1]["seq"] == 2
    assert events[2]["run"]["status"] == "failed"
    assert events[2]["run"]["error"]["code"] == "provider_authentication"


async def test_a_call_that_needs_approval_parks_the_run_and_says_so(open_socket, settings, user, alice):
    settings.TOOLS_GATE = "tests.assistant.runs.engine_helpers.approve_high_risk"
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("delete note 3"))
    events = [e for e in await until(socket, "run.waiting") if e["type"] != "tool.call.delta"]

    assert types(events) == ["message.created", "tool.call", "tool.result", "approval.requested",
                             "run.waiting"]
    assert seqs(events) == [1, 2, 3, 4, 5]
    call, result, requested, waiting = events[1:]
    assert call["tool_call"]["name"] == "delete_note"
    assert result["tool_call"]["status"] == requested["tool_call"]["status"] == "pending"
    assert requested["tool_call"]["id"] == call["tool_call"]["id"]
    assert requested["tool_call"]["record_id"] == result["tool_call"]["record_id"]
    assert waiting["run"]["status"] == "waiting"
    assert await socket.receive_nothing(timeout=0.3)  # it stays parked: nothing more is sent
    run = await Run.objects.aget(pk=waiting["run"]["id"])
    assert run.status == Run.Status.WAITING
    await conversation.arefresh_from_db()
    assert conversation.last_seq == 5  # a parked run's seq survives a restart


# --- refused frames -------------------------------------------------------------------------

FRAME_SIZE_LIMIT = 2048
BAD_FRAMES = [
    pytest.param("this is not json", "bad_frame", id="malformed-json"),
    pytest.param('{"type": "user.message", "content": "hi"', "bad_frame", id="truncated-json"),
    pytest.param("[1, 2, 3]", "bad_frame", id="an-array"),
    pytest.param('"user.message"', "bad_frame", id="a-string"),
    pytest.param("null", "bad_frame", id="null"),
    pytest.param('{"content": "hi"}', "bad_frame", id="no-type"),
    pytest.param('{"type": 7}', "bad_frame", id="numeric-type"),
    pytest.param('{"type": null}', "bad_frame", id="null-type"),
    pytest.param('{"type": "user.mesage"}', "unknown_type", id="unknown-type"),
    pytest.param('{"type": "run.finished"}', "unknown_type", id="a-server-event-type"),
    pytest.param(json.dumps({"type": "user.message", "client_id": str(uuid.uuid4())}), "bad_frame",
                 id="no-content"),
    pytest.param(json.dumps(message("   ")), "bad_frame", id="blank-content"),
    pytest.param(json.dumps({**message("x"), "content": ["hi"]}), "bad_frame", id="non-string-content"),
    pytest.param(json.dumps({"type": "user.message", "content": "hi"}), "bad_frame", id="no-client-id"),
    pytest.param(json.dumps({**message("hi"), "client_id": "not-a-uuid"}), "bad_frame", id="bad-client-id"),
    pytest.param(json.dumps({**message("hi"), "client_id": 12345}), "bad_frame", id="numeric-client-id"),
    pytest.param(json.dumps(message("x" * 101)), "message_too_long", id="message-too-long"),
    # PostgreSQL cannot store U+0000 and no database a lone surrogate: refused, never stored.
    pytest.param(json.dumps(message("a\x00b")), "unstorable_character", id="nul-in-content"),
    pytest.param(json.dumps(message("a\ud800b")), "unstorable_character", id="lone-surrogate-in-content"),
    pytest.param(json.dumps(message("x" * FRAME_SIZE_LIMIT)), "frame_too_large", id="frame-too-large"),
    # Under the limit in characters, over it in bytes: the limit is on what crosses the wire.
    pytest.param(json.dumps(message("é" * 1100), ensure_ascii=False), "frame_too_large",
                 id="frame-too-large-in-bytes"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_a_refused_frame_gets_an_error_without_seq_and_the_socket_stays_open(
        open_socket, settings, user, alice, frame, code):
    settings.REALTIME_MAX_FRAME_BYTES = FRAME_SIZE_LIMIT
    settings.ASSISTANT_MAX_MESSAGE_CHARS = 100
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await socket.send_to(text_data=frame)
    refusal = await receive(socket)

    assert refusal["type"] == "error" and refusal["code"] == code, refusal
    assert refusal["message"] and refusal["conversation_id"] == str(conversation.pk)
    assert "seq" not in refusal  # not history: it is about this client's own frame
    assert not await Message.objects.filter(conversation=conversation).aexists()
    await works(socket)


async def test_too_long_and_too_large_messages_are_refused_in_plain_words(open_socket, settings, user, alice):
    settings.REALTIME_MAX_FRAME_BYTES = FRAME_SIZE_LIMIT
    settings.ASSISTANT_MAX_MESSAGE_CHARS = 100
    socket = await open_socket((await conversation_for(user)).pk, alice)
    await socket.send_to(text_data=json.dumps(message("x" * 101)))
    assert (await receive(socket))["message"] == (
        "The message was not sent: it is 101 characters long and the limit is 100. "
        "Shorten it and send it again.")
    await socket.send_to(text_data=json.dumps(message("é" * 1100), ensure_ascii=False))
    refusal = (await receive(socket))["message"]
    assert re.match(r"The message was not sent: it is too large \(2\.\d kB; the limit is 2\.0 kB\)\.",
                    refusal)
    assert "Frames" not in refusal and refusal.endswith("Shorten it and send it again.")


async def test_a_binary_frame_is_refused_and_the_socket_stays_open(open_socket, user, alice):
    socket = await open_socket((await conversation_for(user)).pk, alice)
    await socket.send_to(bytes_data=json.dumps(message(CALCULATION)).encode())
    refusal = await receive(socket)
    assert (refusal["type"], refusal["code"]) == ("error", "bad_frame") and "seq" not in refusal
    await works(socket)


async def test_a_refusal_goes_to_the_sender_only(open_socket, user, alice):
    conversation = await conversation_for(user)
    sender, watcher = await open_socket(conversation.pk, alice), await open_socket(conversation.pk, alice)
    await sender.send_to(text_data="{")
    assert (await receive(sender))["code"] == "bad_frame"
    assert await watcher.receive_nothing(timeout=0.2)


# --- duplicates, concurrency, cancelling ----------------------------------------------------


async def test_a_repeated_client_id_is_processed_once_and_the_sender_is_told(open_socket, user, alice):
    conversation = await conversation_for(user)
    first, second = await open_socket(conversation.pk, alice), await open_socket(conversation.pk, alice)
    client_id = uuid.uuid4()
    await first.send_json_to(message(CALCULATION, client_id))
    events = await until(first, "run.finished")
    assert events == await until(second, "run.finished")

    await second.send_json_to(message(CALCULATION, client_id))  # e.g. resent after a reconnect
    duplicate = await receive(second)
    assert (duplicate["type"], duplicate["code"]) == ("error", "duplicate_message") and "seq" not in duplicate
    assert await first.receive_nothing(timeout=0.2) and await second.receive_nothing(timeout=0.1)
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    assert await Run.objects.filter(conversation=conversation).acount() == 1


async def test_a_message_while_a_run_waits_for_approval_is_refused_as_run_in_progress(
        open_socket, settings, user, alice):
    settings.TOOLS_GATE = "tests.assistant.runs.engine_helpers.approve_high_risk"
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("delete note 3"))
    await until(socket, "run.waiting")

    await socket.send_json_to(message(CALCULATION))
    refusal = await receive(socket)
    assert (refusal["type"], refusal["code"]) == ("error", "run_in_progress") and "seq" not in refusal
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1

    await socket.send_json_to({"type": "run.cancel"})
    finished = await until(socket, "run.finished")
    assert finished[-1]["run"]["status"] == "cancelled"
    assert finished[-1]["run"]["error"]["code"] == "cancelled"
    await works(socket)  # the conversation is free again


async def test_cancelling_a_streaming_run_finishes_it_as_cancelled(open_socket, fake, user, alice):
    fake.script_openai(text(words(100), chunks=100).delayed(between=0.1))  # ten seconds of tokens
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("talk slowly"))
    await until(socket, "assistant.delta")

    await socket.send_json_to(message("and another thing"))
    refusal = await receive(socket)
    while refusal["type"] == "assistant.delta":
        refusal = await receive(socket)
    assert (refusal["type"], refusal["code"]) == ("error", "run_in_progress")

    await socket.send_json_to({"type": "run.cancel"})
    events = await until(socket, "run.finished")
    assert events[-1]["run"]["status"] == "cancelled"
    assert set(types(events[:-1])) <= {"assistant.delta"}
    run = await Run.objects.aget(pk=events[-1]["run"]["id"])
    assert run.status == Run.Status.CANCELLED
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.status == Message.Status.INTERRUPTED and 0 < len(reply.content) < len(words(100))


async def test_cancel_with_no_active_run_is_refused_as_no_active_run(open_socket, user, alice):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to({"type": "run.cancel"})
    assert (await receive(socket))["code"] == "no_active_run"
    await works(socket)
    await socket.send_json_to({"type": "run.cancel"})  # the run is over: nothing to cancel
    refusal = await receive(socket)
    assert (refusal["type"], refusal["code"]) == ("error", "no_active_run") and "seq" not in refusal


# --- several sockets, reconnects, replay ------------------------------------------------------


async def test_two_sockets_on_one_conversation_see_the_same_events_in_the_same_order(
        open_socket, fake, user, alice):
    fake.script_openai(text(words(40), chunks=40))
    conversation = await conversation_for(user, "fake-openai")
    first, second = await open_socket(conversation.pk, alice), await open_socket(conversation.pk, alice)
    await first.send_json_to(message("count to forty"))
    seen_by_first = await until(first, "run.finished")
    seen_by_second = await until(second, "run.finished")
    assert seen_by_first == seen_by_second
    assert seqs(seen_by_first) == list(range(1, len(seen_by_first) + 1))
    assert streamed(seen_by_first) == words(40)


async def test_a_reconnect_after_a_seq_replays_exactly_what_was_missed_then_continues_live(
        open_socket, fake, user, alice):
    fake.script_openai(text(words(30), chunks=30).delayed(between=0.02), text("second answer"))
    conversation = await conversation_for(user, "fake-openai")
    first = await open_socket(conversation.pk, alice)
    await first.send_json_to(message("count"))
    seen = [await receive(first) for _ in range(4)]  # message.created and the first deltas
    assert squeezed(types(seen)) == ["message.created", "assistant.delta"]
    await first.disconnect()

    again = await open_socket(conversation.pk, alice, after=seen[-1]["seq"])
    rest = await until(again, "run.finished")
    assert seqs(rest) == list(range(5, 5 + len(rest)))
    assert streamed(seen + rest) == words(30)
    await again.send_json_to(message("more"))  # live events keep coming on the new socket
    live = await until(again, "run.finished")
    assert live[0]["seq"] == rest[-1]["seq"] + 1 and streamed(live) == "second answer"


async def test_closing_the_socket_mid_run_neither_stops_nor_loses_the_run(open_socket, fake, user, alice):
    fake.script_openai(text(words(20), chunks=20).delayed(between=0.02))
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("count"))
    await until(socket, "assistant.delta")
    await socket.disconnect()
    await asyncio.wait_for(chat.wait_idle(), TIMEOUT)

    run = await Run.objects.aget(conversation=conversation)
    assert run.status == Run.Status.COMPLETED
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.content == words(20)
    replayed = await until(await open_socket(conversation.pk, alice, after=0), "run.finished")
    assert seqs(replayed) == list(range(1, len(replayed) + 1)) and streamed(replayed) == words(20)
    assert replayed[-2]["message"]["content"] == words(20)
    caught_up = await open_socket(conversation.pk, alice, after=replayed[-1]["seq"])
    assert await caught_up.receive_nothing(timeout=0.2)


async def test_an_unparseable_after_counts_as_zero(open_socket, user, alice):
    conversation = await conversation_for(user)
    first = await open_socket(conversation.pk, alice)
    await works(first)
    replayed = await until(await open_socket(conversation.pk, alice, after="banana"), "run.finished")
    assert replayed[0]["seq"] == 1


async def test_events_no_longer_kept_make_the_socket_ask_for_a_resync(open_socket, user, alice):
    # As after a restart: the stored seq is 30, this process's log holds none of those events.
    conversation = await conversation_for(user, last_seq=30)
    socket = await open_socket(conversation.pk, alice, after=12)
    resync = await receive(socket)
    assert resync["type"] == "sync.required" and resync["seq"] == 30 and resync["message"]
    await socket.send_json_to(message(CALCULATION))
    live = await until(socket, "run.finished")
    assert seqs(live) == list(range(31, 31 + len(seqs(live))))


# --- gaps in the live stream ---------------------------------------------------------------


async def test_an_event_the_channel_dropped_is_filled_from_the_log(open_socket, user, alice):
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    publish = Publisher(conversation.pk)
    delta = {"type": "assistant.delta", "message_id": str(uuid.uuid4())}
    await publish({**delta, "delta": "one "})
    assert (await receive(socket))["seq"] == 1
    # Logged but never delivered: exactly what a full channel does to an event.
    await event_log().append(str(conversation.pk), {**delta, "delta": "two "})
    await publish({**delta, "delta": "three"})

    filled = [await receive(socket), await receive(socket)]
    assert seqs(filled) == [2, 3] and streamed(filled) == "two three"
    assert await socket.receive_nothing(timeout=0.2)  # the live seq 3 is not sent twice


async def test_events_a_full_channel_dropped_reach_the_socket_with_no_later_event(
        open_socket, settings, user, alice):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"capacity": 1}}}
    conversation = await conversation_for(user)
    socket = await open_socket(conversation.pk, alice)
    publish = Publisher(conversation.pk)
    await publish({"type": "message.created", "message": {"id": "m1", "role": "user", "content": "hi"}})
    assert (await receive(socket))["seq"] == 1  # the socket is listening live
    calls = [{"type": "tool.call", "tool_call": {"id": f"call_{i}", "name": "calculator",
                                                 "arguments": "{}", "status": "running"}}
             for i in range(10)]
    # Published concurrently, the ten reach the layer in one loop turn: the socket's
    # one-message channel takes the first and drops the other nine, the last events.
    await asyncio.gather(*(publish(event) for event in calls))

    received = [await receive(socket) for _ in calls]
    assert seqs(received) == list(range(2, 12))
    assert [e["tool_call"]["id"] for e in received] == [f"call_{i}" for i in range(10)]
    assert await socket.receive_nothing(timeout=0.2)  # and none twice


# --- merged deltas ----------------------------------------------------------------------------


async def test_a_burst_of_deltas_reaches_the_socket_as_few_events_with_the_whole_text(
        open_socket, fake, user, alice):
    fake.script_openai(text(words(300), chunks=300))  # the whole reply in one write
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("a long answer"))
    events = await until(socket, "run.finished")
    deltas = [e for e in events if e["type"] == "assistant.delta"]

    assert deltas[0]["delta"] == split(words(300), 300)[0]  # the first piece is not held back
    assert len(deltas) < 100 and streamed(events) == words(300)
    assert seqs(events) == list(range(1, len(events) + 1))


async def test_deltas_of_a_model_that_trickles_are_sent_one_by_one(open_socket, fake, user, alice):
    fake.script_openai(text(words(5), chunks=5).delayed(between=0.05))
    conversation = await conversation_for(user, "fake-openai")
    socket = await open_socket(conversation.pk, alice)
    await socket.send_json_to(message("slowly"))
    events = await until(socket, "run.finished")
    assert [e["delta"] for e in events if e["type"] == "assistant.delta"] == split(words(5), 5)
