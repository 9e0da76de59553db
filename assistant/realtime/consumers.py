"""The chat WebSocket: thin, async, JSON. Parses frames, authorises, calls the engine.

Close codes: 4401 not signed in, 4403 not the conversation's owner (or no such
conversation: existence is not revealed), 4429 the user already holds
``REALTIME_MAX_SOCKETS_PER_USER`` open sockets (``assistant.realtime.limits``). Bad
frames get an ``error`` event, never a closed socket. Runs are started as tasks of their
own, so closing the tab neither stops nor loses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError
from django.utils import translation
from django.utils.translation import gettext as _

from assistant.i18n.languages import choose, header
from assistant.models import Conversation, Preference
from assistant.realtime.delivery import event_log, group_name
from assistant.realtime.limits import CLOSE_TOO_MANY, Lease
from assistant.runs import chat
from tools.dbfields import has_unstorable

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# Seconds of quiet after which a socket checks the log for events its channel dropped.
TAIL_CHECK_SECONDS = 0.5
logger = logging.getLogger(__name__)


class ConversationConsumer(AsyncWebsocketConsumer):
    conversation: Conversation
    last_sent: int = 0
    _tail_timer: asyncio.TimerHandle | None = None
    _tail_request: asyncio.Future[None] | None = None
    _lease: Lease | None = None
    _rejoin: asyncio.Task[None] | None = None
    language: str = settings.LANGUAGE_CODE

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        found = await Conversation.objects.owned_by(user).filter(pk=conversation_id).afirst()
        if found is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # The language of this socket's error messages: as the page's (assistant/i18n).
        saved = await Preference.objects.filter(user=user).values_list("language", flat=True).afirst()
        self.language = choose(saved, header(self.scope, b"accept-language"))
        self._lease = Lease(user.pk, self.channel_name)
        if not await self._lease.take():
            with translation.override(self.language):
                reason = _("Too many open chat connections (at most %(limit)d per user): close other tabs, "
                           "then reload.") % {"limit": settings.REALTIME_MAX_SOCKETS_PER_USER}
            await self.close(code=CLOSE_TOO_MANY, reason=reason)
            return
        self.conversation = found
        self.group = group_name(found.pk)
        self.last_sent = _after(self.scope)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._fill_gap(None)
        self._rejoin = asyncio.ensure_future(self._keep_joined())

    async def _keep_joined(self) -> None:
        """Join the group again now and then, and look at the log's tail.

        A restarted Redis has forgotten every group (and the replay buffer): without this a
        socket open across the restart would never hear of its conversation again. Joining
        is idempotent; the tail check then sends what was missed, or ``sync.required``.
        """
        while True:
            await asyncio.sleep(settings.REALTIME_REJOIN_SECONDS)
            try:
                await self.channel_layer.group_add(self.group, self.channel_name)
                await self._request_tail_check()
            except Exception:  # Redis still away: try again next time, keep the socket
                logger.warning("could not rejoin the group of conversation %s", self.conversation.pk,
                               exc_info=True)

    async def disconnect(self, code: int) -> None:
        if self._lease is not None:
            await self._lease.give_back()
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        if self._rejoin is not None:
            self._rejoin.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "conversation"):
            return
        with translation.override(self.language):
            await self._receive(text_data)

    async def _receive(self, text_data: str | None) -> None:
        if text_data is None:
            await self._error("bad_frame", _("Frames must be JSON text, not binary."))
            return
        size = len(text_data.encode())
        if size > settings.REALTIME_MAX_FRAME_BYTES:
            await self._error("frame_too_large", too_large_message(size, settings.REALTIME_MAX_FRAME_BYTES))
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("bad_frame", _("Frames must be JSON objects."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error("bad_frame", _('Frames must be JSON objects with a string "type".'))
            return
        handler = {"user.message": self._user_message, "run.cancel": self._cancel}.get(frame["type"])
        if handler is None:
            await self._error("unknown_type", _("Unknown frame type %(type)r; expected 'user.message' or "
                                                "'run.cancel'.") % {"type": frame["type"][:40]})
            return
        await handler(frame)

    async def _user_message(self, frame: dict[str, Any]) -> None:
        content, client_id = frame.get("content"), frame.get("client_id")
        if not isinstance(content, str) or not content.strip():
            await self._error("bad_frame", _('"content" must be a non-empty string.'))
            return
        if len(content) > settings.ASSISTANT_MAX_MESSAGE_CHARS:
            await self._error("message_too_long", _(
                "The message was not sent: it is %(length)s characters long and the limit is %(limit)s. "
                "Shorten it and send it again.") % {"length": f"{len(content):,}",
                                                    "limit": f"{settings.ASSISTANT_MAX_MESSAGE_CHARS:,}"})
            return
        if has_unstorable(content):
            await self._error("unstorable_character", chat.UNSTORABLE_MESSAGE)
            return
        try:
            parsed_id = uuid.UUID(str(client_id))
        except ValueError:
            await self._error("bad_frame", _('"client_id" must be a UUID.'))
            return
        try:
            outcome = await chat.submit(self.conversation, self.scope["user"], content, client_id=parsed_id)
        except (IntegrityError, ObjectDoesNotExist):
            # Deleted (in another tab) since this socket connected: nothing can be stored,
            # and the socket is refused as it would be if it connected now.
            if not await Conversation.objects.filter(pk=self.conversation.pk).aexists():
                await self.close(code=CLOSE_FORBIDDEN)
                return
            raise
        if outcome.error is not None:
            await self._error(*outcome.error)

    async def _cancel(self, frame: dict[str, Any]) -> None:
        if not await chat.cancel_active(self.conversation):
            await self._error("no_active_run", _("There is no active run to cancel."))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Live events skip Channels' per-message ``close_old_connections()``.

        Channels runs it in a worker thread before every handler; for a streamed reply that
        is a thread round trip per token, for a handler that normally uses no database
        connection (only a gap fill may read one row, through the async ORM like the engine
        does). Client frames, connect and disconnect still get it.
        """
        if message["type"] == "conversation.event":
            await self.conversation_event(message)
        elif message["type"] == "conversation.tail":
            await self.conversation_tail(message)
        elif message["type"] == "conversation.ephemeral":
            await self.conversation_ephemeral(message)
        else:
            await super().dispatch(message)

    async def conversation_event(self, message: dict[str, Any]) -> None:
        """Handler for the channel-layer type ``conversation.event``."""
        event = message["event"]
        if event["seq"] <= self.last_sent:
            return
        if event["seq"] > self.last_sent + 1:
            await self._fill_gap(event)
        else:
            await self._send(event)
        self._watch_tail()

    async def conversation_ephemeral(self, message: dict[str, Any]) -> None:
        """Handler for ``conversation.ephemeral`` (streamed tool-call arguments, issue 16):
        passed on only when this socket is caught up with the log, never mid-replay."""
        event = message["event"]
        if event.get("after_seq") == self.last_sent:
            await self.send(text_data=json.dumps(event))

    def _watch_tail(self) -> None:
        """Look at the log's tail once the stream has been quiet for a moment.

        A full channel may also drop the events after the last one received, perhaps a
        run's last: no later event would reveal that gap. Looking once per quiet spell, not
        per event, keeps it cheap when the log is in Redis (a round trip).
        """
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        self._tail_timer = asyncio.get_running_loop().call_later(TAIL_CHECK_SECONDS, self._ask_tail)

    def _ask_tail(self) -> None:
        self._tail_timer = None
        self._tail_request = asyncio.ensure_future(self._request_tail_check())

    async def _request_tail_check(self) -> None:
        # Through this consumer's own channel: the check runs in order with its events.
        with contextlib.suppress(ChannelFull):  # then events are queued: they re-arm it
            await self.channel_layer.send(self.channel_name, {"type": "conversation.tail"})

    async def conversation_tail(self, message: dict[str, Any]) -> None:
        """Handler for ``conversation.tail``: send what the log has beyond ``last_sent``."""
        if self.last_sent < await event_log().last_seq(str(self.conversation.pk)):
            await self._fill_gap(None)

    async def _fill_gap(self, live: dict[str, Any] | None) -> None:
        missed = await event_log().since(str(self.conversation.pk), self.last_sent)
        if missed is None:
            last = await event_log().last_seq(str(self.conversation.pk))
            await self.send(text_data=json.dumps({
                "type": "sync.required", "conversation_id": str(self.conversation.pk), "seq": last,
                "message": _("Some events are no longer available; reload the conversation."),
            }))
            self.last_sent = last
            return
        for event in missed:
            if event["seq"] > self.last_sent:
                await self._send(event)
        if live is not None and live["seq"] > self.last_sent:
            await self._send(live)

    async def _send(self, event: dict[str, Any]) -> None:
        self.last_sent = event["seq"]
        await self.send(text_data=json.dumps(event))

    async def _error(self, code: str, message: str) -> None:
        """Errors about a frame go to its sender only, without a seq (they are not history)."""
        await self.send(text_data=json.dumps({
            "type": "error", "conversation_id": str(self.conversation.pk), "code": code, "message": message,
        }))


def _after(scope: dict[str, Any]) -> int:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode()).get("after", ["0"])
    try:
        return max(0, int(values[0]))
    except ValueError:
        return 0



def too_large_message(size: int, limit: int) -> str:
    """In words a person understands: the message, not the frame, and what to do about it."""
    def kb(n: int) -> str:
        return f"{n / 1000:.1f} kB" if n < 10_000 else f"{n / 1000:,.0f} kB"

    return _("The message was not sent: it is too large (%(size)s; the limit is %(limit)s). Emoji and some "
             "alphabets take several bytes per character. Shorten it and send it again.") % {
        "size": kb(size), "limit": kb(limit)}
