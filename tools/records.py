"""Writing :class:`~tools.models.ToolCall` rows: the audit record of every call.

Kept apart from the pipeline so the pipeline reads as the sequence of stages it is. Every
value is redacted (``settings.TOOLS_SENSITIVE_KEYS``) before it reaches the database:
the validated arguments, the raw argument text, the result and the ``got`` of validation
errors. The one exception is ``pending_arguments``, which a call waiting for approval
needs in order to run as asked, and which is cleared as soon as that call is settled.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from tools import rows
from tools.context import ToolContext
from tools.definition import Tool
from tools.errors import ErrorType, ToolError
from tools.gate import GateDecision
from tools.journal import note
from tools.models import ToolCall
from tools.results import Redactor, redact_error, redact_text


def scoped_key(key: str | None, ctx: ToolContext) -> str | None:
    """The stored idempotency key: scoped to the user, so nobody can replay another's call."""
    if not key:
        return None
    owner = ctx.user_id if ctx.user_id is not None else "anon"
    scoped = f"{owner}:{key}"
    if len(scoped) > 255:
        scoped = f"{owner}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return scoped


async def get_by_key(key: str | None) -> ToolCall | None:
    return await ToolCall.objects.filter(idempotency_key=key).afirst() if key else None


async def open_record(*, tool: Tool | None, name: str, raw: Any, ctx: ToolContext, key: str | None,
                      status: str, redact: Redactor, arguments: dict[str, Any] | None = None,
                      error: ToolError | None = None, gate: GateDecision | None = None,
                      pending_arguments: dict[str, Any] | None = None) -> ToolCall | None:
    """Create the row; ``None`` if another call already owns the idempotency ``key``."""
    now = timezone.now()
    user = ctx.user if getattr(ctx.user, "pk", None) else None
    fields: dict[str, Any] = {
        "call_id": ctx.call_id, "idempotency_key": key, "user": user,
        "username": user.get_username() if user is not None else "",
        "tool_name": name[:64], "risk": str(tool.risk) if tool else "",
        "raw_arguments": redact_text(raw_text(raw), redact), "status": status, "scope": ctx.scope,
        "created_at": now,
        "arguments": redact(arguments) if arguments is not None else None,
        "pending_arguments": pending_arguments,
    }
    if status == ToolCall.Status.RUNNING:
        fields["started_at"] = now
    if error is not None:
        fields.update(error=redact_error(error.as_dict(), redact), error_type=str(error.type))
    if status in ToolCall.TERMINAL:
        fields.update(finished_at=now, duration_ms=0.0)
    if gate is not None:
        fields.update(gate_action=gate.action, gate_rule=gate.rule[:200], gate_reason=gate.reason)
    try:
        return await _acreate(fields)
    except IntegrityError:
        if key:
            return None
        raise


def _create(fields: dict[str, Any]) -> ToolCall:
    with transaction.atomic():
        record = rows.insert(ToolCall(**fields))  # a taken idempotency key: IntegrityError
        note("opened", record)
        return record


# Wrapped once (a SyncToAsync per call costs more than the hop); ``_create`` is looked up
# at call time, so bench/engine.py can time it.
_acreate = sync_to_async(lambda fields: _create(fields))


def finish(record: ToolCall, status: str, *, redact: Redactor, duration_ms: float, result: Any = None,
           error: ToolError | None = None, attempts: int = 0, cached: bool = False,
           truncated: bool = False, fallback_tool: str = "") -> None:
    """Close a running call (its owner is the only writer, so the update is unconditional).

    ``result`` must already be redacted: it is also what the model is shown.
    """
    changes = {
        "status": status, "result": result,
        "error": redact_error(error.as_dict(), redact) if error else None,
        "error_type": str(error.type) if error else "", "attempts": attempts, "cached": cached,
        "truncated": truncated, "fallback_tool": fallback_tool, "finished_at": timezone.now(),
        "duration_ms": duration_ms,
    }
    with transaction.atomic():
        rows.update(ToolCall, record.pk, **changes)
        for key, value in changes.items():
            setattr(record, key, value)
        note("finished", record)


def claim_pending(record: ToolCall, **changes: Any) -> bool:
    """pending → running for an approved call; exactly one caller wins (``ToolCall.claim``)."""
    with transaction.atomic():
        claimed = record.claim(ToolCall.Status.PENDING, ToolCall.Status.RUNNING, **changes)
        if claimed:
            note("claimed", record)
        return claimed


def settle_pending(record: ToolCall, status: str, error: ToolError, *, redact: Redactor,
                   duration_ms: float | None = None, **extra: Any) -> bool:
    """Close a parked call with an error, only if it is still pending (see ``ToolCall.claim``)."""
    with transaction.atomic():
        settled = record.claim(
            ToolCall.Status.PENDING, status, error=redact_error(error.as_dict(), redact),
            error_type=str(error.type), finished_at=timezone.now(), pending_arguments=None,
            duration_ms=duration_ms, **extra,
        )
        if settled:
            note("settled", record)
        return settled


def fail_interrupted(record: ToolCall, who: str, *, rerun: bool = False) -> bool:
    """Close a call left ``running`` by a process that died (``who``: "the worker", "the
    server"), as failed and never run again: it may already have had its effect. With
    ``rerun`` the caller runs it once more (an idempotent tool), and the record says so."""
    if rerun:
        error = ToolError(ErrorType.EXECUTION_ERROR, (
            f"{who} running {record.tool_name} stopped before it finished; it was run again "
            "because the tool is idempotent"))
    else:
        error = ToolError(ErrorType.EXECUTION_ERROR, (
            f"{who} running {record.tool_name} stopped before it finished; it was not run again "
            "because it may already have had its effect"), hint="Tell the user; they can ask again.")
    with transaction.atomic():  # the record and its journal entries commit together
        failed = record.claim(ToolCall.Status.RUNNING, ToolCall.Status.FAILED, error=error.as_dict(),
                              error_type=str(error.type), finished_at=timezone.now())
        if failed:
            note("finished", record)
        return failed


def raw_text(raw: Any) -> str:
    if raw is None or isinstance(raw, str):
        return raw or ""
    try:
        return json.dumps(raw, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(raw)
