"""The run loop: model turn → tool calls through the pipeline → next turn, until an answer.

The engine is a service: no WebSocket or view code. Whoever drives it (a consumer, the
terminal chat, a Celery task) passes an ``emit`` coroutine that receives protocol events
(see docs/protocol.md); everything durable goes to the database first, so a run can be
resumed from the database alone after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from assistant.catalog.offer import offer
from assistant.models import Conversation, Message, Run
from assistant.ops import budgets, metrics
from assistant.ops.logging import log_context
from assistant.providers import errors, retry
from assistant.providers.base import (
    ChatRequest,
    Finished,
    Provider,
    ProviderError,
    ProviderState,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from assistant.providers.profiles import chain as profiles_chain
from assistant.runs import context, control, driver, heartbeat, history_cache, store
from assistant.runs.attempts import Attempt, Candidate
from assistant.runs.history import to_chat_message
from assistant.runs.payloads import message_payload, result_payload, run_payload, tool_result_part
from assistant.transcript.argstream import ArgumentStream
from tools import records as tool_records
from tools.catalog import acatalog
from tools.context import ToolContext
from tools.errors import ErrorType
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest, ToolResult

logger = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]
ProviderFactory = Callable[[str], tuple[Provider, str]]
PROGRESS_INTERVAL = 0.25  # seconds between two tool.progress events of one call
RETRYABLE_ERRORS = {ErrorType.VALIDATION_ERROR, ErrorType.INVALID_JSON, ErrorType.UNKNOWN_TOOL}
WHO_STOPPED = "the process"  # in "… running TOOL stopped before it finished"
RESUMED_REASON = "The server writing this reply stopped; it is being written again."

_active: dict[str, asyncio.Task[Any]] = {}


async def _discard(event: dict[str, Any]) -> None:
    return None


def default_provider_factory(profile_name: str) -> tuple[Provider, str]:
    from assistant.providers.profiles import get_profile, provider_for

    profile = get_profile(profile_name)
    return provider_for(profile), profile.model


class Engine:
    def __init__(self, *, provider_factory: ProviderFactory | None = None,
                 pipeline: Pipeline | None = None, emit: Emit | None = None,
                 remote_cancel: bool = False) -> None:
        self.provider_factory = provider_factory or default_provider_factory
        self.pipeline = pipeline or Pipeline()
        self.emit = emit or _discard
        # Listen for a Stop sent from another process (assistant/runs/control.py): on when
        # runs are driven by Celery workers while users' sockets are served by web processes.
        self.remote_cancel = remote_cancel
        self._progress_sent: dict[str, float] = {}

    # -- entry points --------------------------------------------------------------------

    async def send(self, conversation: Conversation, user: Any, text: str, *,
                   client_id: Any = None) -> Run:
        """Store the user's message and drive the run it starts until it stops.

        Raises :class:`store.RunInProgress` if the conversation has an active run. A
        repeated ``client_id`` returns the earlier run without storing anything.
        """
        started = await self.start(conversation, user, text, client_id=client_id)
        if not started.created:
            return started.run
        return await self.drive(started.run, user)

    async def start(self, conversation: Conversation, user: Any, text: str, *,
                    client_id: Any = None, drive_here: bool = True) -> store.Started:
        """Store the user's message and open its run, without driving it yet. With
        ``drive_here`` the run is held for this process from the start (``drive`` then
        needs no take); without, a Celery worker takes it.

        Raises :class:`budgets.BudgetExceeded` (nothing stored) when the user has used up
        today's token budget.
        """
        refused = await budgets.acheck(user)  # operations: daily token budget
        if refused is not None:
            raise refused
        started = await sync_to_async(store.start_run)(
            conversation, user, text, max_steps=settings.ASSISTANT_MAX_STEPS, client_id=client_id,
            driver=driver.new_token() if drive_here else "",
        )
        if started.created:
            await self.emit({"type": "message.created", "message": message_payload(started.message)})
        return started

    async def drive(self, run: Run, user: Any, *, token: str | None = None, resumed: bool = False) -> Run:
        """Take the run (assistant/runs/driver.py) and drive it until it stops; returns at
        once if another process drives it. ``resumed``: continue from its last durable step
        (a process driving it died, or it was started elsewhere)."""
        # Operations: every log line written while driving carries the run's ids.
        with log_context(run_id=str(run.pk), conversation_id=str(run.conversation_id)):
            logger.debug("run started", extra={"profile": run.profile})
            run = await self._drive(run, user, token or getattr(run, "held_by", None) or driver.new_token(),
                                    resumed)
            logger.info("run %s", run.status, extra={
                "status": run.status, "steps": run.steps, "error_code": run.error_code,
                "input_tokens": run.input_tokens, "output_tokens": run.output_tokens})
            return run

    async def _drive(self, run: Run, user: Any, token: str, resumed: bool) -> Run:
        held = getattr(run, "held_by", None) == token  # stored so by start(): no take needed
        if not held and not await sync_to_async(driver.take)(run.pk, token):
            logger.info("run %s is driven elsewhere or over; not driving it here", run.pk)
            return run
        run.driver = token
        key = str(run.pk)
        task = asyncio.current_task()
        lost = False

        def stop() -> None:  # a Stop from another process, by heartbeat or control message
            control.stop(run.pk, task)

        def lose() -> None:  # another process took the run over: stop without writing
            nonlocal lost
            lost = True
            if task is not None:
                task.cancel()

        if task is not None:
            _active[key] = task
        try:
            # The heartbeat renews the run's lease (recovery) while it is driven here.
            async with heartbeat.beating(run.pk, token, on_cancel=stop, on_lost=lose), \
                    self._listening(run, stop):
                if resumed and await Run.objects.filter(pk=run.pk, cancel_requested=True).aexists():
                    raise asyncio.CancelledError
                return await self._loop(run, user, resumed=resumed)
        except asyncio.CancelledError:
            if lost:
                return run
            await self._cancelled(run)
            return run
        except store.RunLost:
            logger.warning("run %s was closed or taken over meanwhile; this driver stops", run.pk)
            return run
        except Exception as exc:
            logger.exception("run %s crashed", run.pk)
            await self._fail(run, "internal_error", f"The run stopped because of an internal error: {exc}")
            return run
        finally:
            if task is not None and _active.get(key) is task:
                del _active[key]
                control.forget(key)

    def _listening(self, run: Run, stop: Callable[[], None]) -> Any:
        if self.remote_cancel:
            return control.listening(run.pk, stop)
        return contextlib.nullcontext()

    async def carry_on(self, run_id: Any) -> Run | None:
        """Drive a ``running`` run that nobody drives — one started by a web process for a
        worker to drive, or one whose driver died — from its last durable step: a tool round
        cut off is finished (calls that ran are never run again; a call cut off mid-way is
        closed as interrupted, or run once more if its tool is idempotent), then the next
        model turn is requested. Does nothing if another process drives it."""
        run = await Run.objects.select_related("user").filter(pk=run_id).afirst()
        if run is None or run.status != Run.Status.RUNNING:
            return run
        return await self.drive(run, run.user, resumed=True)

    async def resume(self, run_id: Any) -> Run:
        """Continue a waiting run once none of its tool calls is pending any more.

        Safe to call any number of times, concurrently: only the caller that moves the run
        from ``waiting`` to ``running`` continues it, and no tool call runs again, because
        results are read from the ToolCall records, never re-executed.
        """
        run = await Run.objects.select_related("user").aget(pk=run_id)
        if run.status != Run.Status.WAITING:
            return run
        turn = await sync_to_async(store.last_assistant_turn)(run)
        records = await sync_to_async(store.tool_records)(turn) if turn else []
        if any(not record.is_terminal for _, record in records):
            return run
        token = driver.new_token()
        if not await sync_to_async(run.claim)(Run.Status.WAITING, Run.Status.RUNNING, driver=token):
            return await Run.objects.aget(pk=run_id)
        if turn is not None and not await sync_to_async(store.has_tool_turn_after)(turn):
            results = [ToolResult.from_record(record) for _, record in records]
            for result in results:
                await self.emit({"type": "tool.result", "tool_call": result_payload(result)})
            await sync_to_async(store.save_tool_turn)(run, [tool_result_part(r) for r in results])
        return await self.drive(run, run.user, token=token)

    async def cancel(self, run_id: Any) -> Run | None:
        """Stop a run: the task driving it in this process, or a waiting run at once."""
        run = await sync_to_async(store.request_cancel)(run_id)
        task = _active.get(str(run_id))
        if task is not None and task is not asyncio.current_task():
            control.stop(run_id, task)
            return run
        if run is not None and run.status == Run.Status.RUNNING:  # driven by another process
            await control.send_cancel(run_id)
            return run
        if (run is not None and run.status == Run.Status.WAITING
                and await sync_to_async(run.claim)(Run.Status.WAITING, Run.Status.RUNNING)):
            await self._cancelled(run)
        return run

    # -- the loop ------------------------------------------------------------------------

    async def _loop(self, run: Run, user: Any, *, resumed: bool = False) -> Run:
        try:
            # The run's profile, then its fallbacks; the first one is built now, so a missing
            # key fails the run before anything is sent.
            chain = [Candidate(p.name, p.label, p.max_retries, p.context_tokens)
                     for p in profiles_chain(run.profile)]
            chain[0].connect(self.provider_factory)
        except ProviderError as exc:
            metrics.provider_error(exc.provider, exc.kind)
            return await self._fail(run, f"provider_{exc.kind}", exc.user_message)
        # Worked out once per (user, catalog version), not per tool per run (tools/catalog.py).
        catalog = await acatalog(user, self.pipeline.registry, self.pipeline.access)
        system = await self._system_prompt(user)
        failures: Counter[str] = Counter()
        # Read once, then extended with exactly the rows this loop stores: the same history
        # a fresh read would give (the round-trip tests hold it to that), without a query
        # per turn.
        history = getattr(run, "history", None)
        if history is None:  # a resumed run, or one started elsewhere
            history, run.next_position = await sync_to_async(history_cache.history_from)(run.conversation_id)
        if resumed:  # from the last durable step: first a tool round its driver left unfinished
            cut = await self._finish_cut_off_round(run, user)
            if cut is not None:
                stopped = await self._store_results(run, *cut, history, failures)
                if stopped is not None:
                    return stopped
            elif run.recoveries:  # the turn its driver was streaming is requested again
                await self.emit({"type": "assistant.retry", "message_id": str(turn_message_id(run)),
                                 "attempt": 1, "delay_ms": 0, "reason": RESUMED_REASON,
                                 "profile": run.profile, "fallback": False})
        told = 0
        while True:
            if run.steps >= run.max_steps:
                return await self._fail(run, "max_steps", (
                    f"Stopped after {run.max_steps} model turns without a final answer. "
                    "Ask again, perhaps more specifically."
                ))
            refused = await budgets.acheck(user)  # operations: daily token budget
            if refused is not None:
                return await self._fail(run, refused.code, refused.message)
            offered = offer(catalog, history)  # a relevant subset of a large catalog
            run.offered_tools = offered.record()  # stored with the turn (store.save_assistant_turn)
            # Context: the oldest whole turns are left out beyond the profile's budget.
            reserved = context.reserved_tokens(system, offered.tools)
            sent, dropped = context.fit(history, chain[0].context_tokens, reserved=reserved)
            if dropped != told:
                told = dropped
                await self.emit({"type": "context.trimmed", "dropped_messages": dropped,
                                 "kept_messages": len(sent), "budget_tokens": chain[0].context_tokens})
            request = ChatRequest(model="", messages=list(sent), system=system, tools=offered.tools)
            turn = await self._model_turn(run, chain, request)
            if turn is None:
                return run
            message, calls, chain = turn
            history.append(to_chat_message(message))
            if not calls:  # the final answer: stored and the run completed in one transaction
                await self.emit({"type": "assistant.message", "message": message_payload(message)})
                await self.emit({"type": "run.finished", "run": run_payload(run)})
                return run
            if message.cancel_requested:  # by another process while the model spoke: run no tools
                raise asyncio.CancelledError
            results = await self._tool_round(run, user, calls)
            stopped = await self._store_results(run, message, results, history, failures)
            if stopped is not None:
                return stopped

    async def _store_results(self, run: Run, message: Message, results: list[ToolResult],
                             history: list[Any], failures: Counter[str]) -> Run | None:
        """Park the run on pending calls, or store the tool turn; the run if it stops here."""
        links = [(r.call_id, i, r.record_id) for i, r in enumerate(results) if r.record_id is not None]
        if any(r.status in ("pending", "running") for r in results):
            await sync_to_async(store.park_run)(run, message, links)
            await self.emit({"type": "run.waiting", "run": run_payload(run)})
            return run
        tool_turn = await sync_to_async(store.save_tool_turn)(
            run, [tool_result_part(r) for r in results], links=(message, links))
        history.append(to_chat_message(tool_turn))
        if tool_turn.cancel_requested:  # a cancel from another process, seen between steps
            raise asyncio.CancelledError
        for result in results:
            if result.error is not None and result.error.type in RETRYABLE_ERRORS:
                failures[result.name] += 1
                if failures[result.name] > settings.ASSISTANT_VALIDATION_RETRIES:
                    return await self._fail(run, "invalid_tool_calls", (
                        f"The model kept sending invalid calls to {result.name} "
                        f"({failures[result.name]} times); stopping this run."
                    ))
        return None

    async def _finish_cut_off_round(self, run: Run, user: Any) -> tuple[Message, list[ToolResult]] | None:
        """The tool round of the run's last turn, when its driver died before storing the
        results: calls that finished give their stored result (never run again), a call
        still ``running`` is closed as interrupted — and run once more, under its own
        idempotency key, if its tool is idempotent and this is not already its re-run — and
        calls that never started run now. ``None`` if there is no such round."""
        turn = await sync_to_async(store.last_assistant_turn)(run)
        if (turn is None or not turn.tool_calls or turn.status != Message.Status.COMPLETE
                or await sync_to_async(store.has_tool_turn_after)(turn)):
            return None
        first, rerun = await sync_to_async(store.records_by_key)(run, turn)
        known: dict[int, ToolResult] = {}
        requests: list[tuple[int, ToolCallRequest]] = []
        for index, call in enumerate(turn.tool_calls):
            call_id, record = call["id"], rerun.get(call["id"]) or first.get(call["id"])
            key = store.retry_key(run.pk, call_id) if call_id in rerun else store.call_key(run.pk, call_id)
            if record is not None and record.status == ToolCall.Status.RUNNING:
                tool = self.pipeline.registry.get(record.tool_name)
                again = call_id not in rerun and tool is not None and bool(tool.idempotent)
                await sync_to_async(tool_records.fail_interrupted)(record, WHO_STOPPED, rerun=again)
                if not again:
                    await record.arefresh_from_db()
                    known[index] = ToolResult.from_record(record)
                    continue
                key = store.retry_key(run.pk, call_id)
            requests.append((index, ToolCallRequest(call["name"], call["arguments"], call_id,
                                                    idempotency_key=key)))
        for _, request in requests:
            await self.emit({"type": "tool.call", "tool_call": {
                "id": request.call_id, "name": request.name, "arguments": request.arguments,
                "status": "running"}})
        tool_context = ToolContext(user=user, progress=self._progress,
                                   scope={"run": str(run.pk), "conversation": str(run.conversation_id)})
        ran = await self.pipeline.call_many([r for _, r in requests], tool_context)
        known.update({index: result for (index, _), result in zip(requests, ran, strict=True)})
        results = [known[i] for i in range(len(turn.tool_calls))]
        for result in results:
            await self.emit({"type": "tool.result", "tool_call": result_payload(result)})
            if result.status == "pending":
                await self.emit({"type": "approval.requested", "tool_call": result_payload(result)})
        return turn, results

    async def _system_prompt(self, user: Any) -> str:
        """The system prompt, plus a note for each tool source that is down (an MCP server
        being reconnected): its tools are missing from this turn, and the model can say so."""
        anotes = getattr(self.pipeline.registry, "anotes", None)
        notes = await anotes(user) if anotes is not None else []
        return "\n\n".join([settings.ASSISTANT_SYSTEM_PROMPT, *notes])

    async def _progress(self, call_id: str, progress: float, total: float | None,
                        message: str | None) -> None:
        """A running call's progress, as ``tool.progress``; at most a few per second per call,
        so a chatty server cannot flood the event log."""
        now = time.monotonic()
        if now - self._progress_sent.get(call_id, 0.0) < PROGRESS_INTERVAL and progress != total:
            return
        self._progress_sent[call_id] = now
        await self.emit({"type": "tool.progress", "tool_call": {
            "id": call_id, "status": "running", "progress": progress, "total": total,
            "message": (message or "")[:200] or None}})

    async def _model_turn(self, run: Run, chain: list[Candidate], request: ChatRequest,
                          ) -> tuple[Message, list[ToolCallFinished], list[Candidate]] | None:
        """One model turn, retried while it breaks (assistant/providers/retry.py), then from
        the fallback profiles while the first stays unavailable. Only a complete turn is
        stored and only its tool calls run; a broken attempt's text is withdrawn with
        ``assistant.retry``, its tokens still counted. Returns the chain from the profile
        that answered on (later turns of the run start there)."""
        message_id = turn_message_id(run)
        error: ProviderError | None = None
        number = 0
        for index, candidate in enumerate(chain):
            if index:
                if error is None or not retry.unavailable(error):
                    break
                try:
                    candidate.connect(self.provider_factory)
                except ProviderError:
                    continue  # e.g. no key configured for this fallback: try the next one
            policy = retry.RetryPolicy.from_settings(candidate.retries)
            attempted = dataclasses.replace(request, model=candidate.model)
            number = 0
            while True:
                number += 1
                attempt = Attempt()
                try:
                    await self._stream(run, candidate, attempted, policy, message_id, attempt)
                except ProviderError as exc:
                    error = exc
                    delay = policy.delay(number, exc)
                    last = delay is None and (index == len(chain) - 1 or not retry.unavailable(exc))
                    if last:  # the text streamed so far is kept, as an interrupted answer
                        await self._save_interrupted(run, message_id, "".join(attempt.text),
                                                     attempt.spent(exc, attempted), candidate.name)
                        message = errors.after_attempts(exc.user_message, number)
                        await self._fail(run, f"provider_{exc.kind}", message)
                        return None
                    await sync_to_async(store.count_tokens)(run, attempt.spent(exc, attempted))
                    following = candidate if delay is not None else chain[index + 1]
                    await self.emit({"type": "assistant.retry", "message_id": str(message_id),
                                     "attempt": number + 1 if delay is not None else 1,
                                     "delay_ms": round((delay or 0) * 1000),
                                     "reason": exc.user_message, "profile": following.name,
                                     "fallback": following.name != run.profile})
                    if delay is None:
                        break  # on to the next profile
                    await asyncio.sleep(delay)
                    continue
                except asyncio.CancelledError:
                    await self._save_interrupted(run, message_id, "".join(attempt.text), attempt.usage,
                                                 candidate.name)
                    raise
                ordered = [attempt.calls[i] for i in sorted(attempt.calls)]
                message = await sync_to_async(store.save_assistant_turn)(
                    run, message_id, content="".join(attempt.text),
                    tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in ordered],
                    input_tokens=attempt.usage.input_tokens, output_tokens=attempt.usage.output_tokens,
                    provider_message_id=attempt.finished.message_id or "", completes_run=not ordered,
                    profile="" if candidate.name == run.profile else candidate.name,
                    provider_state=attempt.state,
                )
                assert message is not None
                message.profile_label = candidate.label
                # Issue 14: every answer says which profile wrote it (the run's own, a
                # profile switched to mid-conversation, or a fallback).
                message.answered_by = {"name": candidate.name, "label": candidate.label or candidate.name}
                return message, ordered, chain[index:]
        # Only reached when no fallback could even be built (e.g. none has its API key).
        assert error is not None
        await self._fail(run, f"provider_{error.kind}", errors.after_attempts(error.user_message, number))
        return None

    async def _stream(self, run: Run, candidate: Candidate, request: ChatRequest, policy: retry.RetryPolicy,
                      message_id: uuid.UUID, attempt: Attempt) -> None:
        """Read one attempt's stream into ``attempt``; raises ProviderError when it breaks."""
        provider = candidate.provider
        assert provider is not None
        stream = metrics.instrumented(provider.stream(request), provider=provider.name, profile=run.profile)
        label = getattr(provider, "label", provider.name)
        guarded = retry.IdleGuard(stream, policy.idle_timeout,
                                  lambda: retry.idle_error(provider.name, label, policy.idle_timeout))
        arguments = ArgumentStream()  # issue 16: the arguments growing in the card, coalesced
        try:
            async for event in guarded:
                if control.stopping(run.pk):  # a cancellation that something swallowed
                    raise asyncio.CancelledError
                attempt.events += 1
                if isinstance(event, TextDelta):
                    attempt.text.append(event.text)
                    await self.emit({"type": "assistant.delta", "message_id": str(message_id),
                                     "delta": event.text})
                elif isinstance(event, (ToolCallStarted, ToolCallDelta, ToolCallFinished)):
                    if isinstance(event, ToolCallFinished):
                        attempt.calls[event.index] = event
                    for frame in arguments.feed(event):
                        await self.emit(frame)
                elif isinstance(event, Usage):
                    attempt.usage = event
                elif isinstance(event, ProviderState):
                    attempt.state[event.provider] = dict(event.data)
                elif isinstance(event, Finished):
                    attempt.finished = event
        finally:
            await guarded.aclose()

    async def _tool_round(self, run: Run, user: Any, calls: list[ToolCallFinished]) -> list[ToolResult]:
        for call in calls:
            await self.emit({"type": "tool.call", "tool_call": {
                "id": call.id, "name": call.name, "arguments": call.arguments, "status": "running",
            }})
        context = ToolContext(user=user, scope={"run": str(run.pk), "conversation": str(run.conversation_id)},
                              progress=self._progress)
        requests = [ToolCallRequest(c.name, c.arguments, c.id, idempotency_key=store.call_key(run.pk, c.id))
                    for c in calls]
        results = await self.pipeline.call_many(requests, context)
        self._progress_sent.clear()
        for result in results:
            await self.emit({"type": "tool.result", "tool_call": result_payload(result)})
            if result.status == "pending":
                await self.emit({"type": "approval.requested", "tool_call": result_payload(result)})
        return results

    # -- endings -------------------------------------------------------------------------

    async def _save_interrupted(self, run: Run, message_id: uuid.UUID, text: str, usage: Usage,
                                profile: str = "") -> None:
        await sync_to_async(store.save_assistant_turn)(
            run, message_id, content=text, tool_calls=[], input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, interrupted=True,
            profile="" if profile == run.profile else profile,
        )

    async def _fail(self, run: Run, code: str, message: str) -> Run:
        await sync_to_async(store.finish_run)(run, Run.Status.FAILED, error_code=code, error=message)
        await self.emit({"type": "error", "code": code, "message": message})
        await self.emit({"type": "run.finished", "run": run_payload(run)})
        return run

    async def _cancelled(self, run: Run) -> None:
        """Close a cancelled run so the history stays valid for the next one."""
        await sync_to_async(answer_open_calls)(run, self.pipeline, reason="the run was cancelled",
                                               rule="cancelled", process_gone=False)
        await sync_to_async(store.finish_run)(run, Run.Status.CANCELLED, error_code="cancelled",
                                              error="The run was cancelled.")
        await self.emit({"type": "run.finished", "run": run_payload(run)})


def answer_open_calls(run: Run, pipeline: Pipeline, *, reason: str, rule: str, process_gone: bool) -> None:
    """Give every unanswered tool call of the run's last turn a final result, so the history
    stays valid for the next request: pending calls are denied with ``reason``; with
    ``process_gone`` (the process driving the run died) calls left running are closed as
    failed, never run again; anything else still open gets an error result saying why."""
    turn = store.last_assistant_turn(run)
    if turn is None or not turn.tool_calls or store.has_tool_turn_after(turn):
        return
    # By idempotency key: a call cut off mid-execution has its record but no link yet.
    records = store.records_by_call(run, turn)
    results = []
    for call in turn.tool_calls:
        record = records.get(call["id"])
        if record is not None and record.status == ToolCall.Status.PENDING:
            async_to_sync(pipeline.deny_pending)(record.pk, reason, rule=rule)
            record.refresh_from_db()
        elif record is not None and record.status == ToolCall.Status.RUNNING and process_gone:
            tool_records.fail_interrupted(record, "the server")
            record.refresh_from_db()
        if record is not None and record.is_terminal:
            results.append(tool_result_part(ToolResult.from_record(record)))
        else:
            kind = "execution_error" if process_gone else "denied"
            body = {"error": {"type": kind, "message": f"{reason} before this call finished"}}
            results.append({"call_id": call["id"], "name": call["name"], "content": json.dumps(body),
                            "is_error": True})
    store.save_tool_turn(run, results)


def turn_message_id(run: Run) -> uuid.UUID:
    """The id the run's next model turn streams (and is stored) under: derived from the run
    and its step count, so a driver that takes over a run whose driver died mid-stream
    withdraws the same id's text with ``assistant.retry``."""
    return uuid.uuid5(uuid.UUID(str(run.pk)), f"turn:{run.steps}")
