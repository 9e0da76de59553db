"""Append to, verify and read the hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so changing,
inserting or deleting any row behind the app's back breaks the chain from that point on,
and :func:`verify` names the first broken link. Appends are serialised by locking the one
:class:`~approvals.models.AuditHead` row (on SQLite the write transaction itself is
exclusive), so two appends can never claim the same place in the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.models import AuditEvent, AuditHead

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "created_at", "kind", "tool_call_id", "tool_name", "user_id", "username", "actor",
                 "conversation_id", "outcome", "data", "prev_hash")


@dataclass
class Entry:
    """An event to append; ``record`` fills in its place in the chain."""

    kind: str
    tool_call_id: int | None = None
    tool_name: str = ""
    user_id: int | None = None
    username: str = ""
    actor: str = ""
    conversation_id: str = ""
    outcome: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    """A stable SHA-256 of a JSON value: how results appear in the log."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    body = {name: getattr(event, name) for name in HASHED_FIELDS}
    body["created_at"] = event.created_at.isoformat()
    return digest(body)


def record(*entries: Entry) -> list[AuditEvent]:
    """Append ``entries`` to the chain, in order, in one transaction."""
    if not entries:
        return []
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head = AuditHead.objects.create(pk=1)
        events = []
        seq, prev = head.seq, head.hash
        now = timezone.now()
        for entry in entries:
            seq += 1
            event = AuditEvent(seq=seq, created_at=now, prev_hash=prev, **entry.__dict__)
            event.hash = compute_hash(event)
            events.append(event)
            prev = event.hash
        AuditEvent.objects.bulk_create(events)
        AuditHead.objects.filter(pk=1).update(seq=seq, hash=prev)
        return events


@dataclass
class Verdict:
    ok: bool
    checked: int
    message: str
    first_bad_seq: int | None = None


def verify(events: Iterable[AuditEvent] | None = None) -> Verdict:
    """Recompute the chain; report the first event whose link or content does not hold."""
    if events is None:
        events = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    prev, expected_seq, checked = GENESIS, 1, 0
    for event in events:
        if event.seq != expected_seq:
            kind = "deleted" if event.seq > expected_seq else "inserted or duplicated"
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: expected event #{expected_seq} next "
                f"(an event was {kind})"), event.seq)
        if event.prev_hash != prev:
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: its prev_hash does not match event #{event.seq - 1} "
                "(an event before it was changed, inserted or deleted)"), event.seq)
        if compute_hash(event) != event.hash:
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: its content does not match its hash "
                "(the event was edited)"), event.seq)
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.seq != checked or head.hash != prev):
        return Verdict(False, checked, (
            f"broken link at the end: the chain ends at #{checked} but the head says #{head.seq} "
            "(the newest events were deleted or the head was changed)"), checked + 1)
    return Verdict(True, checked, f"audit chain intact: {checked} events verified")


def as_row(event: AuditEvent) -> dict[str, Any]:
    """An event as plain data (exports, API)."""
    return {
        "seq": event.seq, "created_at": event.created_at.isoformat(), "kind": event.kind,
        "tool_call_id": event.tool_call_id, "tool_name": event.tool_name, "user_id": event.user_id,
        "username": event.username, "actor": event.actor, "conversation_id": event.conversation_id,
        "outcome": event.outcome, "data": event.data, "prev_hash": event.prev_hash, "hash": event.hash,
    }


def rows_since(since: Any) -> Iterator[dict[str, Any]]:
    queryset = AuditEvent.objects.order_by("seq")
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    for event in queryset.iterator(chunk_size=2000):
        yield as_row(event)
