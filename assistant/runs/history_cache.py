"""The history a run starts from, kept per conversation and extended instead of re-read.

Reading a conversation's whole history on every run made each run cost more the longer
the conversation was (about 0.1 ms a message: the rows, then the neutral messages built
from them). Stored messages never change once written — a conversation only grows, one
run at a time — so each process keeps the neutral history of recently used conversations
with the position it reaches, and a run's start reads only the rows added since (by this
process or any other): typically the previous run's three or four.

Bounded (``SIZE`` conversations, least recently used dropped); a conversation not in it is
read whole, as before. Only ever called from the run's start, in Django's database thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from assistant.models import Message
from assistant.providers.base import ChatMessage
from assistant.runs.history import build_history, history_and_next_position

SIZE = 512

_lock = threading.Lock()
_cache: OrderedDict[str, tuple[tuple[ChatMessage, ...], int]] = OrderedDict()


def history_from(conversation_id: Any) -> tuple[list[ChatMessage], int]:
    """The conversation's neutral history and the position the next message takes."""
    key = str(conversation_id)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
    if cached is None:
        history, next_position = history_and_next_position(conversation_id)
        kept = tuple(history)
    else:
        kept, next_position = cached
        added = list(Message.objects.filter(conversation_id=conversation_id, position__gte=next_position)
                     .order_by("position"))
        if added:
            kept = kept + tuple(build_history(added))
            next_position = added[-1].position + 1
    with _lock:
        _cache[key] = (kept, next_position)
        _cache.move_to_end(key)
        while len(_cache) > SIZE:
            _cache.popitem(last=False)
    return list(kept), next_position


def forget(conversation_id: Any = None) -> None:
    """Drop one conversation's history, or all (tests that rewrite the database)."""
    with _lock:
        if conversation_id is None:
            _cache.clear()
        else:
            _cache.pop(str(conversation_id), None)
