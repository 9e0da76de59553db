"""The one path every tool call takes, whoever asks: chat, API or the command line.

parse → validate → permission → rate limit → gate → (cache) → execute → serialise,
redact, truncate → record. Every failure becomes a structured :class:`ToolError` in the
result; no exception escapes :meth:`Pipeline.call`, and every result keeps its call id.
"""

from __future__ import annotations

import asyncio
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
from django.db import IntegrityError
from django.utils import timezone

from tools import ratelimit
from tools.context import ToolContext
from tools.definition import Tool
from tools.errors import ArgumentError, ErrorType, ToolError, ToolTimeout
from tools.execution import invoke_with_retries
from tools.gate import GateDecision, PreparedCall, can_use, load_gate
from tools.models import ToolCall
from tools.registry import Registry
from tools.registry import registry as default_registry
from tools.results import NotSerialisable, Redactor, to_jsonable, truncate
from tools.validation import ValidationFailure

logger = logging.getLogger(__name__)

Status = Literal["ok", "error", "pending", "running"]
_DEFAULT: Any = object()


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
                 gate: GateDecision | None = None) -> None:
        self.error, self.status, self.arguments, self.gate = error, status, arguments, gate


class Pipeline:
    """Validate, authorise and run tool calls, recording each as a :class:`ToolCall`.

    ``gate`` defaults to ``settings.TOOLS_GATE``; pass ``None`` for no gate. With
    ``record=False`` nothing is written to the database (used by benchmarks and dry runs).
    """

    def __init__(self, registry: Registry | None = None, *, record: bool = True,
                 gate: Any = _DEFAULT, max_concurrency: int | None = None) -> None:
        self.registry = registry if registry is not None else default_registry
        self.record = record
        self._gate = gate
        self.max_concurrency = max_concurrency or settings.TOOLS_MAX_CONCURRENCY
        self.redact = Redactor(settings.TOOLS_SENSITIVE_KEYS)

    # -- public entry points -------------------------------------------------------------

    async def call(self, request: ToolCallRequest, context: ToolContext | None = None) -> ToolResult:
        start = time.perf_counter()
        call_id = request.call_id or f"call_{uuid.uuid4().hex[:24]}"
        ctx = replace(context or ToolContext(), call_id=call_id)
        if self.record and request.idempotency_key:
            existing = await _get_by_key(request.idempotency_key)
            if existing is not None:
                return ToolResult.from_record(existing)
        try:
            tool, prepared = await self._prepare(request, ctx)
        except _Stop as stop:
            return await self._stopped(request, call_id, ctx, stop, start)
        record = None
        if self.record:
            record = await self._open(request, call_id, prepared, ToolCall.Status.RUNNING)
        if record is False:  # lost an idempotency race: another caller owns this call
            return ToolResult.from_record(await _get_by_key(request.idempotency_key))  # type: ignore[arg-type]
        return await self._execute(tool, prepared, record, start)

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

    async def run_approved(self, record_id: int, context: ToolContext,
                           arguments: dict[str, Any] | None = None) -> ToolResult:
        """Run a call that was parked for approval, exactly once.

        ``arguments`` replaces the parked arguments (an approver's edit) and is validated
        against the tool's schema again. The pending → running claim is a conditional
        update, so of two concurrent approvals only one runs the tool.
        """
        start = time.perf_counter()
        record = await ToolCall.objects.aget(pk=record_id)
        tool = self.registry.get(record.tool_name)
        if record.status != ToolCall.Status.PENDING or tool is None:
            return ToolResult.from_record(record)
        ctx = replace(context, call_id=record.call_id)
        raw = arguments if arguments is not None else record.arguments
        try:
            kwargs, args_json = tool.validate(raw)
        except ValidationFailure as exc:
            await sync_to_async(_finish)(record, ToolCall.Status.FAILED, error=exc.error, start=start)
            return ToolResult(record.call_id, tool.name, "error", error=exc.error, record_id=record.pk,
                              duration_ms=_ms(start))
        claimed = await sync_to_async(record.claim)(
            ToolCall.Status.PENDING, ToolCall.Status.RUNNING,
            arguments=self.redact(args_json), started_at=timezone.now(),
        )
        if not claimed:
            return ToolResult.from_record(await ToolCall.objects.aget(pk=record_id))
        prepared = PreparedCall(tool, kwargs, args_json, ctx, record.call_id, record.pk)
        return await self._execute(tool, prepared, record, start, use_cache=False)

    async def deny_pending(self, record_id: int, reason: str, *, rule: str = "") -> ToolResult:
        """Close a parked call without running it; the model gets a ``denied`` result."""
        record = await ToolCall.objects.aget(pk=record_id)
        error = ToolError(ErrorType.DENIED, f"the call to {record.tool_name} was denied: {reason}",
                          hint="Do not retry this call; tell the user it was not approved.",
                          extra={"reason": reason})
        claimed = await sync_to_async(record.claim)(
            ToolCall.Status.PENDING, ToolCall.Status.DENIED, error=error.as_dict(),
            error_type=str(error.type), finished_at=timezone.now(), gate_reason=reason,
            gate_rule=rule or record.gate_rule,
        )
        if not claimed:
            record = await ToolCall.objects.aget(pk=record_id)
        return ToolResult.from_record(record)

    # -- stages --------------------------------------------------------------------------

    async def _prepare(self, request: ToolCallRequest, ctx: ToolContext) -> tuple[Tool, PreparedCall]:
        tool = self.registry.get(request.name)
        if tool is None or not can_use(ctx.user, tool):
            if tool is None:
                names = [t.name for t in self.registry if can_use(ctx.user, t)]
                raise _Stop(ToolError(
                    ErrorType.UNKNOWN_TOOL, f"there is no tool named {request.name!r}",
                    hint=f"Use one of: {', '.join(names) or '(no tools available)'}.",
                ), ToolCall.Status.REJECTED)
            raise _Stop(ToolError(
                ErrorType.PERMISSION_DENIED, f"you are not allowed to use {tool.name}",
                hint="Do not retry; tell the user this action is not available to them.",
            ), ToolCall.Status.REJECTED)
        try:
            kwargs, args_json = tool.validate(request.arguments)
        except ValidationFailure as exc:
            raise _Stop(exc.error, ToolCall.Status.REJECTED) from None
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
            reason = decision.reason or "the policy does not allow this call"
            raise _Stop(ToolError(
                ErrorType.DENIED, f"the call to {tool.name} was denied: {reason}",
                hint="Do not retry this call; tell the user it is not allowed.",
                extra={"reason": reason, "rule": decision.rule},
            ), ToolCall.Status.DENIED, args_json, decision)
        if decision.action == "require_approval":
            raise _Stop(ToolError(
                ErrorType.APPROVAL_REQUIRED,
                f"the call to {tool.name} is waiting for a human to approve it",
                hint="Wait for the decision; do not call the tool again.",
                extra={"rule": decision.rule, **decision.data},
            ), ToolCall.Status.PENDING, args_json, decision)
        return tool, prepared

    async def _decide(self, prepared: PreparedCall) -> GateDecision:
        gate = load_gate() if self._gate is _DEFAULT else self._gate
        if gate is None:
            return GateDecision.allow()
        if inspect.iscoroutinefunction(gate):
            decision = await gate(prepared)
        else:
            decision = await sync_to_async(gate)(prepared)
        if not isinstance(decision, GateDecision):
            raise TypeError(f"the gate returned {decision!r}, not a GateDecision")
        return decision

    async def _execute(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None,
                       start: float, *, use_cache: bool = True) -> ToolResult:
        cache_key = _cache_key(tool, prepared) if (tool.cache_ttl and use_cache) else None
        if cache_key is not None:
            hit = await cache.aget(cache_key)
            if hit is not None:
                return await self._succeed(tool, prepared, record, start, hit["output"],
                                           attempts=0, cached=True, truncated=hit["truncated"])
        attempts, used, error = 0, tool, None
        try:
            value, attempts = await invoke_with_retries(tool, prepared.arguments, prepared.context)
        except Exception as exc:
            attempts, error = getattr(exc, "attempts", 1), _error_from(tool, exc)
            fallback = self.registry.get(tool.fallback) if tool.fallback else None
            if fallback is None or error.type == ErrorType.VALIDATION_ERROR:
                return await self._fail(tool, prepared, record, start, error, attempts)
            try:
                kwargs, _ = fallback.validate(prepared.arguments_json)
                value, more = await invoke_with_retries(fallback, kwargs, prepared.context)
                attempts, used = attempts + more, fallback
            except ValidationFailure as exc2:
                return await self._fail(tool, prepared, record, start, exc2.error, attempts)
            except Exception as exc2:
                return await self._fail(tool, prepared, record, start, _error_from(fallback, exc2),
                                        attempts + getattr(exc2, "attempts", 1), fallback=fallback.name)
        try:
            output = self.redact(to_jsonable(value))
        except NotSerialisable as exc:
            error = ToolError(ErrorType.EXECUTION_ERROR, str(exc))
            return await self._fail(tool, prepared, record, start, error, attempts)
        output, truncated = truncate(output, settings.TOOLS_MAX_RESULT_CHARS)
        if cache_key is not None and used is tool:
            await cache.aset(cache_key, {"output": output, "truncated": truncated}, tool.cache_ttl)
        return await self._succeed(tool, prepared, record, start, output, attempts=attempts,
                                   truncated=truncated, fallback=used.name if used is not tool else "")

    # -- outcomes ------------------------------------------------------------------------

    async def _succeed(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None, start: float,
                       output: Any, *, attempts: int, cached: bool = False, truncated: bool = False,
                       fallback: str = "") -> ToolResult:
        result = ToolResult(prepared.call_id, tool.name, "ok", output=output, duration_ms=_ms(start),
                            arguments=prepared.arguments_json, cached=cached, attempts=attempts,
                            truncated=truncated)
        if record is not None:
            await sync_to_async(_finish)(record, ToolCall.Status.SUCCEEDED, result=output, start=start,
                                         attempts=attempts, cached=cached, truncated=truncated,
                                         fallback_tool=fallback)
            result.record_id = record.pk
        return result

    async def _fail(self, tool: Tool, prepared: PreparedCall, record: ToolCall | None, start: float,
                    error: ToolError, attempts: int, fallback: str = "") -> ToolResult:
        result = ToolResult(prepared.call_id, tool.name, "error", error=error, duration_ms=_ms(start),
                            arguments=prepared.arguments_json, attempts=attempts)
        if record is not None:
            await sync_to_async(_finish)(record, ToolCall.Status.FAILED, error=error, start=start,
                                         attempts=attempts, fallback_tool=fallback)
            result.record_id = record.pk
        return result

    async def _stopped(self, request: ToolCallRequest, call_id: str, ctx: ToolContext, stop: _Stop,
                       start: float) -> ToolResult:
        status: Status = "pending" if stop.status == ToolCall.Status.PENDING else "error"
        result = ToolResult(call_id, request.name, status, error=stop.error, duration_ms=_ms(start),
                            arguments=stop.arguments, gate=stop.gate)
        if self.record:
            record = await self._open(request, call_id, None, stop.status, stop=stop, ctx=ctx)
            if record is False:
                return ToolResult.from_record(await _get_by_key(request.idempotency_key))  # type: ignore[arg-type]
            result.record_id = record.pk
        return result

    async def _open(self, request: ToolCallRequest, call_id: str, prepared: PreparedCall | None,
                    status: str, *, stop: _Stop | None = None, ctx: ToolContext | None = None) -> Any:
        ctx = prepared.context if prepared is not None else ctx
        tool = self.registry.get(request.name)
        now = timezone.now()
        fields: dict[str, Any] = {
            "call_id": call_id, "idempotency_key": request.idempotency_key,
            "user": ctx.user if getattr(ctx.user, "pk", None) else None,
            "username": getattr(ctx.user, "get_username", lambda: "")(),
            "tool_name": request.name[:64], "risk": str(tool.risk) if tool else "",
            "raw_arguments": _raw_text(request.arguments), "status": status, "scope": ctx.scope,
            "created_at": now,
        }
        if prepared is not None:
            fields.update(arguments=self.redact(prepared.arguments_json), started_at=now)
        if stop is not None:
            fields.update(arguments=self.redact(stop.arguments) if stop.arguments is not None else None,
                          error=stop.error.as_dict(), error_type=str(stop.error.type))
            if stop.status != ToolCall.Status.PENDING:
                fields.update(finished_at=now, duration_ms=0.0)
            if stop.gate is not None:
                fields.update(gate_action=stop.gate.action, gate_rule=stop.gate.rule[:200],
                              gate_reason=stop.gate.reason)
        try:
            return await ToolCall.objects.acreate(**fields)
        except IntegrityError:
            if request.idempotency_key:
                return False
            raise


def _finish(record: ToolCall, status: str, *, start: float, result: Any = None,
            error: ToolError | None = None, attempts: int = 0, cached: bool = False,
            truncated: bool = False, fallback_tool: str = "") -> None:
    changes = {
        "status": status, "result": result, "error": error.as_dict() if error else None,
        "error_type": str(error.type) if error else "", "attempts": attempts, "cached": cached,
        "truncated": truncated, "fallback_tool": fallback_tool, "finished_at": timezone.now(),
        "duration_ms": _ms(start),
    }
    ToolCall.objects.filter(pk=record.pk).update(**changes)
    for key, value in changes.items():
        setattr(record, key, value)


async def _get_by_key(key: str | None) -> ToolCall | None:
    return await ToolCall.objects.filter(idempotency_key=key).afirst() if key else None


def _error_from(tool: Tool, exc: BaseException) -> ToolError:
    if isinstance(exc, ArgumentError):
        detail: dict[str, Any] = {"path": exc.path or "", "problem": exc.message}
        if exc.got is not None:
            detail["got"] = exc.got
        return ToolError(ErrorType.VALIDATION_ERROR, f"invalid arguments for {tool.name}: {exc.message}",
                         details=[detail], hint=exc.hint or f"Fix the argument and call {tool.name} again.")
    if isinstance(exc, ToolTimeout):
        return ToolError(ErrorType.TIMEOUT, str(exc),
                         hint="The tool was too slow; try a smaller request or tell the user.")
    logger.warning("tool %s failed", tool.name, exc_info=exc)
    return ToolError(ErrorType.EXECUTION_ERROR, f"{tool.name} failed: {type(exc).__name__}: {exc}")


def _cache_key(tool: Tool, prepared: PreparedCall) -> str:
    canonical = json.dumps(prepared.arguments_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"toolgate:result:{tool.name}:{prepared.context.user_id}:{digest}"


def _raw_text(raw: Any) -> str:
    if raw is None or isinstance(raw, str):
        return raw or ""
    try:
        return json.dumps(raw, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(raw)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
