"""Append to, verify and read the hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so changing,
inserting or deleting any row behind the app's back breaks the chain from that point on,
and :func:`verify` names the first broken link. Appends are serialised by locking the one
:class:`~approvals.models.AuditHead` row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite
the ``IMMEDIATE`` write transaction is itself exclusive), so two appends can never claim
the same place in the chain.

A chain proves itself only up to its head: someone who can write to the database could
rewrite every hash after a change and the head with them. Noting the head printed by
``manage.py audit verify`` somewhere else, and passing it back with ``--anchor``, closes
that gap (see docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import cache
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from approvals.models import AuditEvent, AuditHead
from tools.dbfields import storable

GENESIS = "0" * 64
HEAD_ID = 1
HASHED_FIELDS = ("seq", "created_at", "kind", "tool_call_id", "tool_name", "user_id", "username", "actor",
                 "conversation_id", "outcome", "data", "prev_hash")
_TEXT_LIMITS = {f.name: f.max_length for f in AuditEvent._meta.fields
                if isinstance(f, models.CharField) and f.max_length}


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


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


def canonical(value: Any) -> str:
    """The one JSON text of a value that hashes are taken over: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    """A stable SHA-256 of a JSON value (of its canonical text): how results appear in the log.

    Taken over the value as it is stored (:func:`tools.dbfields.storable`), so a result with
    a NUL in it still matches its digest when read back."""
    return hashlib.sha256(canonical(storable(value)).encode()).hexdigest()


def text_digest(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes, exactly as stored (``sha256sum`` agrees)."""
    return hashlib.sha256(text.encode()).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    """The event's hash: over every field but ``id`` and ``hash``, including ``prev_hash``,
    which is what chains it to the event before."""
    body = {name: getattr(event, name) for name in HASHED_FIELDS}
    body["created_at"] = event.created_at.isoformat()
    return digest(body)


def _stored_hash(values: dict[str, Any]) -> str:
    """:func:`compute_hash` of an event whose values are already as stored (``_event`` made
    them so), without scanning them for unstorable characters a second time: the same text
    is hashed, since :func:`storable` returns a storable value unchanged."""
    body = {name: values[name] for name in HASHED_FIELDS}
    body["created_at"] = values["created_at"].isoformat()
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _event(entry: Entry, seq: int, prev: str, now: datetime) -> AuditEvent:
    """The row for ``entry``, with every value exactly as it will read back from the database
    (texts cut to their column, data round-tripped through JSON, unstorable characters
    replaced as :mod:`tools.dbfields` stores them), so its hash still holds
    when :func:`verify` recomputes it from the stored row."""
    values = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    for name, limit in _TEXT_LIMITS.items():
        if name in values:
            values[name] = storable(str(values[name] or "")[:limit])
    values["data"] = storable(json.loads(json.dumps(entry.data or {}, ensure_ascii=False, default=str)))
    values.update(seq=seq, created_at=now, prev_hash=prev)
    return AuditEvent(hash=_stored_hash(values), **values)


_INSERTED = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
_ROWS_PER_INSERT = 500  # well under every database's limit on parameters per statement


@dataclass(frozen=True)
class _Statements:
    lock_head: str
    insert_into: str  # followed by one "(%s, …)" per row, then ``returning``
    row: str
    returning: str  # "" where the database cannot return the inserted rows' ids
    move_head: str
    # PostgreSQL: "WITH … (move the head)" put before the INSERT, so moving the head costs no
    # round trip of its own; "" elsewhere (SQLite has no data-modifying WITH).
    moving_head: str


@cache
def _statements(alias: str) -> _Statements:
    """The statements of an append, for one database. Only identifiers, taken from the
    models' own tables and columns, are formatted in; every value is a parameter."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    head, table = quote(AuditHead._meta.db_table), quote(AuditEvent._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    columns = ", ".join(quote(f.column) for f in _INSERTED)
    returning = (f" RETURNING {quote(AuditEvent._meta.pk.column)}, {quote('seq')}"
                 if connection.features.can_return_rows_from_bulk_insert else "")
    return _Statements(
        lock_head=f"SELECT seq, hash FROM {head} WHERE id = %s{lock}",  # noqa: S608
        insert_into=f"INSERT INTO {table} ({columns}) VALUES ",  # noqa: S608
        row=f"({', '.join(['%s'] * len(_INSERTED))})",
        returning=returning,
        move_head=f"UPDATE {head} SET seq = %s, hash = %s WHERE id = %s",  # noqa: S608
        moving_head=(f"WITH moved AS (UPDATE {head} SET seq = %s, hash = %s WHERE id = %s) "  # noqa: S608
                     if connection.vendor == "postgresql" and returning else ""),
    )


def _locked_head(alias: str, cursor: Any) -> tuple[int, str]:
    """(seq, hash) of the chain's end, its row locked until the transaction ends."""
    cursor.execute(_statements(alias).lock_head, [HEAD_ID])
    row = cursor.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    # No head yet (a new database, or a test that flushed the tables): start it at the newest
    # event. ``ignore_conflicts`` lets two first appends race without an IntegrityError.
    last = AuditEvent.objects.using(alias).order_by("-seq").only("seq", "hash").first()
    AuditHead.objects.using(alias).bulk_create(
        [AuditHead(pk=HEAD_ID, seq=last.seq if last else 0, hash=last.hash if last else GENESIS)],
        ignore_conflicts=True)
    return _locked_head(alias, cursor)


def _insert(alias: str, cursor: Any, events: list[AuditEvent]) -> None:
    """INSERT the events (values adapted by their own fields), give them their ids, and move
    the head to the last of them.

    One statement for them all where the database returns the new rows; ids are matched by
    ``seq``, since the order of returned rows is not promised. On PostgreSQL the head moves
    in that same statement (a data-modifying ``WITH``): one round trip fewer per append.
    """
    statements, connection = _statements(alias), connections[alias]
    head = [events[-1].seq, events[-1].hash, HEAD_ID]

    def values(event: AuditEvent) -> list[Any]:
        # ``prepared``: ``_event`` already made every value what ``get_prep_value`` would
        # (storable text cut to its column, JSON-ready data, an aware datetime), so only the
        # backend's adaptation is left to do.
        return [f.get_db_prep_value(getattr(event, f.attname), connection, prepared=True) for f in _INSERTED]

    if not statements.returning:
        for event in events:
            cursor.execute(statements.insert_into + statements.row, values(event))
            event.pk = cursor.lastrowid
        cursor.execute(statements.move_head, head)
        return
    by_seq = {event.seq: event for event in events}
    for start in range(0, len(events), _ROWS_PER_INSERT):
        chunk = events[start:start + _ROWS_PER_INSERT]
        last = start + _ROWS_PER_INSERT >= len(events)
        prefix, params = (statements.moving_head, list(head)) if last and statements.moving_head else ("", [])
        rows = ", ".join([statements.row] * len(chunk))
        sql = prefix + statements.insert_into + rows + statements.returning
        cursor.execute(sql, params + [value for event in chunk for value in values(event)])
        for pk, seq in cursor.fetchall():
            by_seq[int(seq)].pk = int(pk)
    if not statements.moving_head:
        cursor.execute(statements.move_head, head)


def record(*entries: Entry) -> list[AuditEvent]:
    """Append ``entries`` to the chain, in order, in one transaction (the caller's, if any).

    Every recorded tool call appends twice, so an append is three plain SQL statements —
    lock the head, insert the events, move the head (two on PostgreSQL, where the INSERT
    moves the head) — rather than the ORM's version of the same, which cost four times as
    much (bench/audit.py).
    """
    if not entries:
        return []
    alias = router.db_for_write(AuditEvent)
    connection = connections[alias]
    # Inside the caller's transaction (a tool call's record) no savepoint is needed: the
    # events must commit or roll back with that record anyway, and a savepoint would cost two
    # more statements on every call. A failure here still rolls the whole transaction back.
    nested = connection.in_atomic_block
    with transaction.atomic(using=alias, savepoint=not nested), connection.cursor() as cursor:
        seq, prev = _locked_head(alias, cursor)
        now = timezone.now()  # taken under the lock, so time never goes backwards along the chain
        events = []
        for entry in entries:
            seq += 1
            event = _event(entry, seq, prev, now)
            event._state.adding, event._state.db = False, alias
            events.append(event)
            prev = event.hash
        _insert(alias, cursor, events)  # and moves the head to (seq, prev)
        return events


# -- events written outside the tool pipeline --------------------------------------------------


def _who(actor: Any) -> tuple[int | None, str]:
    """(user id, name) of an actor given as a user or as a name such as ``system:expiry``."""
    if isinstance(actor, str) or actor is None:
        return None, actor or ""
    return getattr(actor, "pk", None), actor.get_username()


def decision(request: Any, actor: Any) -> AuditEvent:
    """``approval.decided``: who decided an :class:`~approvals.models.ApprovalRequest`, how
    (its status after the decision) and why. ``actor`` is the approver, or a name such as
    ``"system:expiry"`` when nobody did. Call it in the deciding transaction."""
    [event] = record(decision_entry(request, actor))
    return event


def decision_entry(request: Any, actor: Any) -> Entry:
    actor_id, name = _who(actor)
    return Entry(
        "approval.decided", tool_call_id=request.tool_call_id, tool_name=request.tool_name,
        user_id=request.requester_id, username=request.tool_call.username, actor=name,
        conversation_id=request.conversation_id, outcome=request.status,
        data={"approval_id": request.pk, "actor_id": actor_id, "rule": request.rule, "reason": request.reason,
              "edited_arguments": request.edited_arguments, "original_arguments": request.arguments},
    )


def edit_refused_entry(request: Any, actor: Any, edited: Any, error: dict[str, Any], message: str) -> Entry:
    """``approval.edit_refused``: an approver's edited arguments failed the checks a new
    call gets (the policy denied them, or the tool or its schema refused them); the
    request stayed pending and nothing ran. ``edited`` must already be redacted."""
    actor_id, name = _who(actor)
    return Entry(
        "approval.edit_refused", tool_call_id=request.tool_call_id, tool_name=request.tool_name,
        user_id=request.requester_id, username=request.tool_call.username, actor=name,
        conversation_id=request.conversation_id, outcome=str(error.get("type", "")),
        data={"approval_id": request.pk, "actor_id": actor_id, "rule": error.get("rule", ""),
              "reason": error.get("reason", ""), "message": message, "edited_arguments": edited,
              "original_arguments": request.arguments},
    )


def policy_changed(actor: Any, obj: models.Model, action: str,
                   changes: Mapping[str, Any] | None = None) -> AuditEvent:
    """``policy.changed``: an administrator created, changed or deleted a policy object.

    ``changes`` maps each changed field to ``[old, new]``; values may be model instances,
    querysets (a many-to-many field) or dates, which are turned into names and text here.
    A deleted object is recorded whole (for a tool policy, with its rules and groups), since
    nothing else will remember it. The admin calls this from ``save_model``/``delete_model``.
    """
    user_id, name = _who(actor)
    tool_name = getattr(obj, "tool_name", "") or getattr(getattr(obj, "policy", None), "tool_name", "")
    data: dict[str, Any] = {
        "model": obj._meta.label_lower, "object_id": obj.pk, "object": str(obj), "action": action,
        "changes": {key: [jsonable(old), jsonable(new)] for key, (old, new) in (changes or {}).items()},
    }
    if action == "deleted":
        data["deleted"] = snapshot(obj)
    [event] = record(Entry("policy.changed", tool_name=tool_name, user_id=user_id, username=name,
                           actor=name, outcome=action, data=data))
    return event


def on_config_changed(sender: Any, *, actor: Any, instance: models.Model, action: str,
                      changes: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
    """Receiver of ``tools.signals.config_changed`` (an MCP server configured in the admin or
    with ``manage.py mcp``): recorded as a ``policy.changed`` event like any policy change."""
    policy_changed(actor, instance, action, changes)


def jsonable(value: Any) -> Any:
    """A form value as JSON data: objects by name, many-to-many values as sorted names."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        items = [jsonable(item) for item in value]
        unordered = isinstance(value, models.QuerySet | set | frozenset) or (
            bool(value) and all(isinstance(item, models.Model) for item in value))
        return sorted(items, key=str) if unordered else items
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def snapshot(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of ``obj``; a tool policy's rules and groups too."""
    values = {f.attname: jsonable(f.value_from_object(obj)) for f in obj._meta.concrete_fields}
    if obj.pk is not None and hasattr(obj, "rules") and hasattr(obj, "allowed_groups"):
        values["allowed_groups"] = sorted(g.name for g in obj.allowed_groups.all())
        values["rules"] = [snapshot(rule) for rule in obj.rules.all()]
    return values


# -- verifying --------------------------------------------------------------------------------


@dataclass
class Verdict:
    ok: bool
    checked: int
    message: str
    first_bad_seq: int | None = None
    head_hash: str = GENESIS


def verify(events: Iterable[AuditEvent] | None = None, *,
           anchors: Mapping[int, str] | None = None) -> Verdict:
    """Recompute the chain; report the first event whose link or content does not hold.

    ``anchors`` maps a seq to the hash that event had when someone noted it elsewhere (an
    earlier ``verify`` printed it): a chain rewritten from before that point with freshly
    computed hashes is still caught there.
    """
    anchors = dict(anchors or {})
    if events is None:
        events = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    prev, expected_seq, checked = GENESIS, 1, 0
    for event in events:
        if event.seq != expected_seq:
            why = (f"event #{expected_seq} is missing: deleted, or the seqs were renumbered"
                   if event.seq > expected_seq else "an event was inserted or duplicated")
            return Verdict(False, checked, f"broken link at #{event.seq}: expected event #{expected_seq} "
                                           f"next ({why})", event.seq, prev)
        if event.prev_hash != prev:
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: its prev_hash does not match the hash of event "
                f"#{event.seq - 1} (an event before it was changed, inserted, deleted or reordered)"),
                event.seq, prev)
        if compute_hash(event) != event.hash:
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: its content does not match its hash "
                "(the event was edited)"), event.seq, prev)
        noted = anchors.pop(event.seq, None)
        if noted is not None and noted != event.hash:
            return Verdict(False, checked, (
                f"broken link at #{event.seq}: its hash is not the anchored {noted[:12]}… "
                "(the chain was rewritten at or before this event)"), event.seq, prev)
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if anchors:
        missing = min(anchors)
        return Verdict(False, checked, (
            f"broken link at #{missing}: the anchored event is gone; the chain ends at #{checked} "
            "(the newest events were deleted)"), missing, prev)
    head = AuditHead.objects.filter(pk=HEAD_ID).first()
    if head is None and checked:
        return Verdict(False, checked, (
            f"broken link at the end: the chain ends at #{checked} but its head row is missing "
            "(it was deleted behind the app's back)"), checked + 1, prev)
    if head is not None and (head.seq != checked or head.hash != prev):
        return Verdict(False, checked, (
            f"broken link at the end: the chain ends at #{checked} but the head says #{head.seq} "
            "(the newest events were deleted or the head was changed)"), checked + 1, prev)
    return Verdict(True, checked, f"audit chain intact: {checked} events verified; head #{checked} {prev}",
                   head_hash=prev)


# -- reading ----------------------------------------------------------------------------------

COLUMNS = ("seq", "created_at", "kind", "tool_call_id", "tool_name", "user_id", "username", "actor",
           "conversation_id", "outcome", "data", "prev_hash", "hash")


def as_row(event: AuditEvent) -> dict[str, Any]:
    """An event as plain data (exports, API), in :data:`COLUMNS` order."""
    row = {name: getattr(event, name) for name in COLUMNS}
    row["created_at"] = event.created_at.isoformat()
    return row


def rows_since(since: datetime | None) -> Iterator[dict[str, Any]]:
    """Every event created at or after ``since`` (all of them for ``None``), in chain order."""
    queryset = AuditEvent.objects.order_by("seq")
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    for event in queryset.iterator(chunk_size=2000):
        yield as_row(event)
