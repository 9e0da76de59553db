"""The one path every tool call takes, whoever asks: chat, API or the command line.

lookup & permission → parse & validate → rate limit → gate → (cache) → execute (timeout,
retries, fallback) → serialise, redact, truncate → record. Every failure becomes a
structured :class:`ToolError` in the result; no exception escapes :meth:`Pipeline.call`
(not even from a broken gate), and every result keeps its call id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from tools import logcontext, ratelimit, records
from tools.catalog import Catalog, acatalog
from tools.context import ToolContext
from tools.definition import Tool
from tools.errors import ArgumentError, ErrorType, ToolError, ToolReportedError, ToolTimeout
from tools.execution import ToolAborted, invoke_with_retries, precheck
from tools.gate import FROM_SETTINGS, GateDecision, PreparedCall, acan_use, load_gate
from tools.models import ToolCall
from tools.registry import Registry
from tools.registry import registry as default_registry
from tools.results import NotSerialisable, Redactor, redactor, restore_redacted, to_jsonable, truncate
from tools.validation import ValidationFailure

logger = logging.getLogger(__name__)

Status = Literal["ok", "error", "pending", "running"]
_DEFAULT: Any = object()
_REPLAY_POLL = 0.05  # seconds between looks at a call another caller is still running


@dataclass
class ToolCallRequest:
    name: str
    arguments: str | dict[str, Any] | None = None
    call_id: str = ""
    idempotency_key: str | None = None


@dataclass
class ToolResult:
    call_id: str
    name: str
    status: Status
    output: Any = None
    error: ToolError | None = None
    duration_ms: float = 0.0
    record_id: int | None = None
    arguments: dict[str, Any] | None = None
    cached: bool = False
    attempts: int = 0
    truncated: bool = False
    gate: GateDecision | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def content(self) -> str:
        """What the model is shown, as a JSON string."""
        body = self.output if self.status == "ok" else (self.error.as_result() if self.error else None)
        return json.dumps(body, ensure_ascii=False)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "call_id": self.call_id, "name": self.name, "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
        }
        if self.status == "ok":
            body["result"] = self.output
        if self.error is not None:
            body["error"] = self.error.as_dict()
        if self.record_id is not None:
            body["record_id"] = self.record_id
        return body

    @classmethod
    def from_record(cls, record: ToolCall) -> ToolResult:
        status: Status = {
            ToolCall.Status.SUCCEEDED: "ok", ToolCall.Status.PENDING: "pending",
            ToolCall.Status.RUNNING: "running",
        }.get(record.status, "error")  # type: ignore[assignment]
        return cls(
            call_id=record.call_id, name=record.tool_name, status=status, output=record.result,
            error=ToolError.from_dict(record.error) if record.error else None,
            duration_ms=record.duration_ms or 0.0, record_id=record.pk, arguments=record.arguments,
            cached=record.cached, attempts=record.attempts, truncated=record.truncated,
        )


class _Stop(Exception):
    """Internal: the call ends before execution with this error and record status."""

    def __init__(self, error: ToolError, status: str, arguments: dict[str, Any] | None = None,
                 gate: GateDecision | None = None, prepared: PreparedCall | None = None) -> None:
        self.error, self.status, self.arguments, self.gate = error, status, arguments, gate
        self.prepared = prepared


class Pipeline:
    """Validate, authorise and run tool calls, recording each as a :class:`ToolCall`.

    ``gate`` defaults to ``settings.TOOLS_GATE``; pass ``None`` for no gate. With
    ``record=False`` nothing is written to the database (used by benchmarks and dry runs),
    which also means idempotency keys are ignored: they live in the records. ``access``
    defaults to ``settings.TOOLS_ACCESS_POLICY``; pass ``None`` to check only each tool's
    own permission.
    """

    def __init__(self, registry: Registry | None = None, *, record: bool = True,
                 gate: Any = _DEFAULT, access: Any = _DEFAULT, max_concurrency: int | None = None) -> None:
        self.registry = registry if registry is not None else default_registry
        self.record = record
        self._gate = gate
        self.access = FROM_SETTINGS if access is _DEFAULT else access
        self._max_concurrency = max_concurrency

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency or settings.TOOLS_MAX_CONCURRENCY

    @property
    def redact(self) -> Redactor:
        return redactor()

    # -- public entry points -------------------------------------------------------------

    @logcontext.isolated
    async def call(self, request: ToolCallRequest, context: ToolContext | None = None) -> ToolResult:
        start = time.perf_counter()
        call_id = request.call_id or f"call_{uuid.uuid4().hex[:24]}"
        ctx = replace(context or ToolContext(), call_id=call_id)
        logcontext.update(call_id=call_id, tool=request.name)  # for log lines (assistant.ops.logging)
        try:
            return await self._call(request, ctx, start)
        except Exception as exc:  # a bug outside the tool (policy, serialiser, database)
            logger.exception("the pipeline failed while handling %s (%s)", request.name, call_id)
            error = ToolError(
                ErrorType.EXECUTION_ERROR,
                f"the call to {request.name} could not be handled: {type(exc).__name__}: {exc}",
                hint="This is a problem on the server, not with the arguments; tell the user.",
            )
            return ToolResult(call_id, request.name, "error", error=error, duration_ms=_ms(start))

    async def call_many(self, requests: list[ToolCallRequest], context: ToolContext | None = None,
                        *, max_concurrency: int | None = None) -> list[ToolResult]:
        """Run a batch of (parallel) calls; results come back in request order.

        At most ``max_concurrency`` run at once, and one failing call never aborts another.
        """
        semaphore = asyncio.Semaphore(max_concurrency or self.max_concurrency)

        async def one(request: ToolCallRequest) -> ToolResult:
            async with semaphore:
                return await self.call(request, context)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    def call_sync(self, request: ToolCallRequest, context: ToolContext | None = None) -> ToolResult:
        return async_to_sync(self.call)(request, context)

    @logcontext.isolated
    async def run_approved(self, record_id: int, context: ToolContext,
                           arguments: dict[str, Any] | None = None) -> ToolResult:
        """Run a call that was parked for approval, exactly once.

        ``context`` should carry the user who asked (``record.user``): their permission is
        checked again. ``arguments`` replaces the parked arguments (an approver's edit) and
        is validated again; a ``"[REDACTED]"`` left in it stands for the value that was
        asked for. The pending → running claim is a conditional update, so of two
        concurrent approvals only one runs the tool; the other gets the record as it is.
        """
        start = time.perf_counter()
        record = await ToolCall.objects.aget(pk=record_id)
        if record.status != ToolCall.Status.PENDING:
            return ToolResult.from_record(record)
        logcontext.update(call_id=record.call_id, tool=record.tool_name, tool_call_id=record.pk)
        ctx = replace(context, call_id=record.call_id)
        parked = record.pending_arguments if record.pending_arguments is not None else record.arguments
        raw = parked if arguments is None else restore_redacted(arguments, parked)
        tool = await self._lookup(record.tool_name)
        try:
            if arguments is not None:  # an approver's edit: checked like a new call
                prepared = await self._admit_edit(tool, record.tool_name, raw, ctx, record.pk)
                tool, kwargs, args_json = prepared.tool, prepared.arguments, prepared.arguments_json
            else:
                if tool is None:
                    why = self.registry.why_missing(record.tool_name)
                    raise _Stop(_unknown_tool(record.tool_name, None, why), ToolCall.Status.FAILED)
                if not await acan_use(ctx.user, tool, self.access):
                    raise _Stop(_permission_denied(tool), ToolCall.Status.FAILED)
                kwargs, args_json = _validated(tool, raw, ToolCall.Status.FAILED)
        except _Stop as stop:
            extra = {"gate_action": stop.gate.action, "gate_rule": stop.gate.rule[:200],
                     "gate_reason": stop.gate.reason} if stop.gate is not None else {}
            settled = await _settle_pending(
                record, stop.status, stop.error, redact=self.redact, duration_ms=_ms(start), **extra)
            if not settled:
                return ToolResult.from_record(await ToolCall.objects.aget(pk=record_id))
            return ToolResult(record.call_id, record.tool_name, "error", error=stop.error,
                              record_id=record.pk, duration_ms=_ms(start))
        claimed = await _claim_pending(
            record, arguments=self.redact(args_json), pending_arguments=None, started_at=timezone.now(),
        )
        if not claimed:
            return ToolResult.from_record(await ToolCall.objects.aget(pk=record_id))
        prepared = PreparedCall(tool, kwargs, args_json, ctx, record.call_id, record.pk)
        return await self._execute(tool, prepared, record, start, use_cache=False)

    async def check_edit(self, name: str, arguments: Any, context: ToolContext) -> ToolError | None:
        """Would an approver's edited arguments of a parked call pass the checks a new call
        gets — permission, validation, the tool's pre-check, the gate? The error that stops
        them (a ``denied`` one carries the rule and its reason), or ``None``.

        ``arguments`` must already have any ``"[REDACTED]"`` restored. A gate's "require
        approval" is not an error here: approving the edit is that approval. Nothing is
        recorded or run; :meth:`run_approved` checks again when it runs the call.
        """
        try:
            await self._admit_edit(self.registry.get(name), name, arguments, context, None)
        except _Stop as stop:
            return stop.error
        return None

    async def deny_pending(self, record_id: int, reason: str, *, rule: str = "") -> ToolResult:
        """Close a parked call without running it; the model gets a ``denied`` result."""
        record = await ToolCall.objects.aget(pk=record_id)
        error = ToolError(ErrorType.DENIED, f"the call to {record.tool_name} was denied: {reason}",
                          hint="Do not retry this call; tell the user it was not approved.",
                          extra={"reason": reason})
        settled = await _settle_pending(
            record, ToolCall.Status.DENIED, error, redact=self.redact, gate_reason=reason,
            gate_rule=(rule or record.gate_rule)[:200],
        )
        if not settled:
            record = await ToolCall.objects.aget(pk=record_id)
        return ToolResult.from_record(record)

    # -- stages --------------------------------------------------------------------------

    async def _call(self, request: ToolCallRequest, ctx: ToolContext, start: float) -> ToolResult:
        key = records.scoped_key(request.idempotency_key, ctx) if self.record else None
        try:
            tool, prepared, decision = await self._prepare(request, ctx)
        except _Stop as stop:
            return await self._stopped(request, ctx, key, stop, start)
        record = None
        if self.record:
            record = await records.open_record(
                tool=tool, name=tool.name, raw=request.arguments, ctx=ctx, key=key,
                status=ToolCall.Status.RUNNING, redact=self.redact, arguments=prepared.arguments_json,
                gate=decision,
            )
            if record is None:  # lost an idempotency race: another caller owns this call
                return await self._replay_lost_race(key, request, ctx, start)
            logcontext.update(tool_call_id=record.pk)
        return await self._execute(tool, prepared, record, start)

    async def _prepare(self, request: ToolCallRequest,
                       ctx: ToolContext) -> tuple[Tool, PreparedCall, GateDecision]:
        tool = await self._lookup(request.name)
        if tool is None:
            usable = await acatalog(ctx.user, self.registry, self.access)
            raise _Stop(_unknown_tool(request.name, usable, self.registry.why_missing(request.name)),
                        ToolCall.Status.REJECTED)
        if not await acan_use(ctx.user, tool, self.access):
            raise _Stop(_permission_denied(tool), ToolCall.Status.REJECTED)
        kwargs, args_json = _validated(tool, request.arguments, ToolCall.Status.REJECTED)
        await _prechecked(tool, kwargs, args_json, ctx, ToolCall.Status.REJECTED)
        if tool.rate_limit is not None:
            retry_after = await ratelimit.acquire(tool.name, ctx.user_id, tool.rate_limit)
            if retry_after is not None:
                raise _Stop(ToolError(
                    ErrorType.RATE_LIMITED,
                    f"{tool.name} may be called at most {tool.rate_limit.count} times per "
                    f"{tool.rate_limit.seconds} s",
                    hint=f"Wait {retry_after:.0f} s before calling {tool.name} again.",
                    extra={"retry_after": retry_after},
                ), ToolCall.Status.REJECTED, args_json)
        prepared = PreparedCall(tool, kwargs, args_json, ctx, ctx.call_id)
        decision = await self._decide(prepared)
        if decision.action == "deny":
            raise _denied(prepared, decision)
        if decision.action == "require_approval":
            raise _Stop(ToolError(
                ErrorType.APPROVAL_REQUIRED,
                f"the call to {tool.name} is waiting for a human to approve it",
                hint="Wait for the decision; do not call the tool again.",
                extra={"rule": decision.rule, **decision.data},
            ), ToolCall.Status.PENDING, args_json, decision, prepared)
        return tool, prepared, decision

    async def _admit_edit(self, tool: Tool | None, name: str, raw: Any, ctx: ToolContext,
                          record_id: int | None) -> PreparedCall:
        """An approver's edited arguments through every check a new call gets: permission,
        validation, the tool's pre-check and the gate (told it is a re-check). The gate's
        "require approval" passes: the approver approving the edit is that approval."""
        if tool is None:
            raise _Stop(_unknown_tool(name, None, self.registry.why_missing(name)), ToolCall.Status.FAILED)
        if not await acan_use(ctx.user, tool, self.access):
            raise _Stop(_permission_denied(tool), ToolCall.Status.FAILED)
        kwargs, args_json = _validated(tool, raw, ToolCall.Status.FAILED)
        await _prechecked(tool, kwargs, args_json, ctx, ToolCall.Status.FAILED)
        prepared = PreparedCall(tool, kwargs, args_json, ctx, ctx.call_id, record_id, recheck=True)
        decision = await self._decide(prepared)
        if decision.action == "deny":
            raise _denied(prepared, decision)
        return prepared

    async def _lookup(self, name: str) -> Tool | None:
        """The registered tool; a name not (yet) known gives dynamic sources (MCP servers this
        process has not connected to yet) the chance to load it."""
        tool = self.registry.get(name)
        if tool is None:
            await self.registry.aready()
            tool = self.registry.get(name)
        return tool

    async def _decide(self, prepared: PreparedCall) -> GateDecision:
        """The gate's decision. A gate that fails denies (fails closed) instead of crashing."""
        gate = load_gate() if self._gate is _DEFAULT else self._gate
        if gate is None:
            return GateDecision.allow()
        try:
            decision = await _async_gate(gate)(prepared)
            if not isinstance(decision, GateDecision):
                raise TypeError(f"the gate returned {decision!r}, not a GateDecision")
        except Exception as exc:
            logger.exception("the gate failed on a call to %s", prepared.tool.name)
            return GateDecision.deny(
                rule="gate_error",
                reason=f"the approval policy failed while checking this call ({type(exc).__name__})",
            )
        return decision

    async def _replay(self, key: str, request: ToolCallRequest, ctx: ToolContext) -> ToolResult | None:
        """The result of the call that already owns ``key``, once it is no longer running."""
        record = await records.get_by_key(key)
        if record is None:
            return None
        tool = self.registry.get(record.tool_name)
        patience = ((tool.timeout if tool and tool.timeout else settings.TOOLS_DEFAULT_TIMEOUT)
                    * (tool.retry.attempts if tool else 1) + 1)
        deadline = time.monotonic() + patience
        while record.status == ToolCall.Status.RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(_REPLAY_POLL)
            record = await ToolCall.objects.aget(pk=record.pk)
        return replace(ToolResult.from_record(record), call_id=ctx.call_id)

    async def _replay_lost_race(self, key: str | None, request: ToolCallRequest, ctx: ToolContext,
                                start: float) -> ToolResult:
        replayed = await self._replay(key, request, ctx) if key else None
        if replayed is not None:
            return replayed
        raise RuntimeError(f"idempotency key {request.idempotency_key!r} is taken but its call is gone")

    async def _execute(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None,
                       start: float, *, use_cache: bool = True) -> ToolResult:
        try:
            return await self._execute_once(tool, prepared, record, start, use_cache=use_cache)
        except asyncio.CancelledError:
            if record is not None:  # do not leave the record "running" for ever
                error = ToolError(ErrorType.EXECUTION_ERROR, f"the call to {tool.name} was cancelled")
                with contextlib.suppress(Exception):
                    await _finish(record, ToolCall.Status.FAILED, error=error,
                                                        redact=self.redact, duration_ms=_ms(start))
            raise

    async def _execute_once(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None,
                            start: float, *, use_cache: bool) -> ToolResult:
        cache_key = _cache_key(tool, prepared) if (tool.cache_ttl and use_cache) else None
        if cache_key is not None:
            hit = await cache.aget(cache_key)
            if hit is not None:
                return await self._succeed(tool, prepared, record, start, hit["output"],
                                           attempts=0, cached=True, truncated=hit["truncated"])
        used = tool
        try:
            value, attempts = await invoke_with_retries(tool, prepared.arguments, prepared.context)
        except Exception as exc:
            attempts, error = getattr(exc, "attempts", 1), _error_from(tool, exc)
            if error.type == ErrorType.VALIDATION_ERROR:
                return await self._fail(tool, prepared, record, start, error, attempts)
            try:
                fallback = await self._fallback(tool, prepared)
            except ValidationFailure as exc2:
                return await self._fail(tool, prepared, record, start, exc2.error, attempts)
            if fallback is None:
                return await self._fail(tool, prepared, record, start, error, attempts)
            used, fallback_call = fallback
            try:
                value, more = await invoke_with_retries(used, fallback_call.arguments, prepared.context)
                attempts += more
            except Exception as exc2:
                return await self._fail(tool, prepared, record, start, _error_from(used, exc2),
                                        attempts + getattr(exc2, "attempts", 1), fallback=used.name)
        try:
            output = self.redact(to_jsonable(value))
        except NotSerialisable as exc:
            error = ToolError(ErrorType.EXECUTION_ERROR, str(exc))
            return await self._fail(tool, prepared, record, start, error, attempts)
        output, truncated = truncate(output, settings.TOOLS_MAX_RESULT_CHARS, settings.TOOLS_MAX_RESULT_BYTES)
        if cache_key is not None and used is tool:
            await cache.aset(cache_key, {"output": output, "truncated": truncated}, tool.cache_ttl)
        return await self._succeed(tool, prepared, record, start, output, attempts=attempts,
                                   truncated=truncated, fallback=used.name if used is not tool else "")

    async def _fallback(self, tool: Tool, prepared: PreparedCall) -> tuple[Tool, PreparedCall] | None:
        """The fallback tool and its call, if it exists and both the user's permissions and
        the gate allow it outright (the gate approved the primary, not the fallback).

        The fallback receives the primary's validated arguments, so it must accept them.
        """
        fallback = self.registry.get(tool.fallback) if tool.fallback else None
        if fallback is None or not await acan_use(prepared.context.user, fallback, self.access):
            return None
        kwargs, args_json = fallback.validate(prepared.arguments_json)
        try:
            await precheck(fallback, kwargs, prepared.context)
        except Exception:
            return None  # the fallback would refuse these arguments: the primary's error stands
        call = PreparedCall(fallback, kwargs, args_json, prepared.context, prepared.call_id,
                            prepared.record_id)
        if (await self._decide(call)).action != "allow":
            return None
        return fallback, call

    # -- outcomes ------------------------------------------------------------------------

    async def _succeed(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None, start: float,
                       output: Any, *, attempts: int, cached: bool = False, truncated: bool = False,
                       fallback: str = "") -> ToolResult:
        result = ToolResult(prepared.call_id, tool.name, "ok", output=output, duration_ms=_ms(start),
                            arguments=prepared.arguments_json, cached=cached, attempts=attempts,
                            truncated=truncated)
        if record is not None:
            await _finish(
                record, ToolCall.Status.SUCCEEDED, redact=self.redact, result=output,
                duration_ms=result.duration_ms, attempts=attempts, cached=cached, truncated=truncated,
                fallback_tool=fallback,
            )
            result.record_id = record.pk
        return result

    async def _fail(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None, start: float,
                    error: ToolError, attempts: int, fallback: str = "") -> ToolResult:
        result = ToolResult(prepared.call_id, tool.name, "error", error=error, duration_ms=_ms(start),
                            arguments=prepared.arguments_json, attempts=attempts)
        if record is not None:
            await _finish(
                record, ToolCall.Status.FAILED, redact=self.redact, error=error,
                duration_ms=result.duration_ms, attempts=attempts, fallback_tool=fallback,
            )
            result.record_id = record.pk
        return result

    async def _stopped(self, request: ToolCallRequest, ctx: ToolContext, key: str | None, stop: _Stop,
                       start: float) -> ToolResult:
        status: Status = "pending" if stop.status == ToolCall.Status.PENDING else "error"
        result = ToolResult(ctx.call_id, request.name, status, error=stop.error, duration_ms=_ms(start),
                            arguments=stop.arguments, gate=stop.gate)
        if self.record:
            parked = stop.arguments if stop.status == ToolCall.Status.PENDING else None
            record = await records.open_record(
                tool=self.registry.get(request.name), name=request.name, raw=request.arguments,
                ctx=ctx, key=key, status=stop.status, redact=self.redact, arguments=stop.arguments,
                error=stop.error, gate=stop.gate, pending_arguments=parked,
            )
            if record is None:  # lost an idempotency race
                return await self._replay_lost_race(key, request, ctx, start)
            result.record_id = record.pk
        return result


# The record writes from async code, each one hop to the database thread. Wrapped once
# here (building a SyncToAsync on every call costs more than the hop itself); the function
# is looked up at call time, so a benchmark that times ``records.finish`` still sees it.
_finish = sync_to_async(lambda *args, **kwargs: records.finish(*args, **kwargs))
_claim_pending = sync_to_async(lambda *args, **kwargs: records.claim_pending(*args, **kwargs))
_settle_pending = sync_to_async(lambda *args, **kwargs: records.settle_pending(*args, **kwargs))

_ASYNC_GATES: dict[int, tuple[Any, Any]] = {}


def _async_gate(gate: Any) -> Any:
    """The gate as a coroutine function, wrapped once per gate (the wrapper is not free).

    A sync gate runs in a thread, because it may query the database.
    """
    known = _ASYNC_GATES.get(id(gate))
    if known is not None and known[0] is gate:
        return known[1]
    wrapped = gate if inspect.iscoroutinefunction(gate) else sync_to_async(gate)
    if len(_ASYNC_GATES) > 64:
        _ASYNC_GATES.clear()
    _ASYNC_GATES[id(gate)] = (gate, wrapped)
    return wrapped


def _validated(tool: Tool, raw: Any, status: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return tool.validate(raw)
    except ValidationFailure as exc:
        raise _Stop(exc.error, status) from None


async def _prechecked(tool: Tool, kwargs: dict[str, Any], args_json: dict[str, Any], ctx: ToolContext,
                      status: str) -> None:
    """The tool's own pre-check: a call it would refuse anyway stops here, before the gate."""
    if tool.precheck is None:
        return
    try:
        await precheck(tool, kwargs, ctx)
    except Exception as exc:
        raise _Stop(_error_from(tool, exc), status, args_json) from None


def _denied(prepared: PreparedCall, decision: GateDecision) -> _Stop:
    reason = decision.reason or "the policy does not allow this call"
    return _Stop(ToolError(
        ErrorType.DENIED, f"the call to {prepared.tool.name} was denied: {reason}",
        hint="Do not retry this call; tell the user it is not allowed.",
        extra={"reason": reason, "rule": decision.rule},
    ), ToolCall.Status.DENIED, prepared.arguments_json, decision)


_HINT_NAMES = 40


def _unknown_tool(name: str, usable: Catalog | None, why: str | None = None) -> ToolError:
    """The names the user may use; for a large catalog, the few closest to the name asked
    for, and a pointer to search_tools (a hint listing a thousand names helps nobody).
    ``None``: an approved call whose tool has gone since, where no model reads the hint.
    ``why``: the tool belongs to a source that is down for now (an MCP server being
    reconnected)."""
    if why:
        return ToolError(ErrorType.UNKNOWN_TOOL, f"{name} is unavailable right now: {why}",
                         hint="Do not retry it now; tell the user, or use another tool.")
    available = [t.name for t in usable.tools] if usable is not None else []
    if len(available) <= _HINT_NAMES:
        hint = f"Use one of: {', '.join(available) or '(no tools available)'}."
    else:
        close = [t.name for t in usable.index().search(name, 10)]
        search = (" Call search_tools with what you want to do to find others."
                  if "search_tools" in available else "")
        hint = f"Similar tools: {', '.join(close) or '(none)'}.{search}"
    return ToolError(ErrorType.UNKNOWN_TOOL, f"there is no tool named {name!r}", hint=hint)


def _permission_denied(tool: Tool) -> ToolError:
    return ToolError(ErrorType.PERMISSION_DENIED, f"you are not allowed to use {tool.name}",
                     hint="Do not retry; tell the user this action is not available to them.")


def _error_from(tool: Tool, exc: BaseException) -> ToolError:
    if isinstance(exc, ArgumentError):
        detail: dict[str, Any] = {"path": exc.path or "", "problem": _clip(exc.message)}
        if exc.got is not None:
            detail["got"] = exc.got
        message = _clip(f"invalid arguments for {tool.name}: {exc.message}")
        return ToolError(ErrorType.VALIDATION_ERROR, message, details=[detail],
                         hint=exc.hint or f"Fix the argument and call {tool.name} again.")
    if isinstance(exc, ToolReportedError):
        return exc.error
    if isinstance(exc, ToolTimeout):
        return ToolError(ErrorType.TIMEOUT, str(exc),
                         hint="The tool was too slow; try a smaller request or tell the user.")
    logger.warning("tool %s failed", tool.name, exc_info=exc)
    shown = exc.__cause__ if isinstance(exc, ToolAborted) and exc.__cause__ else exc
    return ToolError(ErrorType.EXECUTION_ERROR, _clip(f"{tool.name} failed: {type(shown).__name__}: {shown}"))


MAX_ERROR_CHARS = 2000  # an exception's message can be as large as the tool likes


def _clip(message: str) -> str:
    """A tool's error message, cut with a marker if it is longer than ``MAX_ERROR_CHARS``."""
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return f"{message[:MAX_ERROR_CHARS]}… [truncated {len(message) - MAX_ERROR_CHARS} characters]"


def _cache_key(tool: Tool, prepared: PreparedCall) -> str:
    canonical = json.dumps(prepared.arguments_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"toolgate:result:{tool.name}:{prepared.context.user_id}:{digest}"


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
