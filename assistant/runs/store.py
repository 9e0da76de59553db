"""The run loop's database writes, one transaction per step.

Each function is synchronous and does one step's writes together, so the async engine
crosses into a worker thread once per step rather than once per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from assistant.attachments import service as attachments
from assistant.models import Conversation, Message, Run, RunToolCall
from assistant.runs import history_cache
from assistant.runs.history import to_chat_message
from tools import records, rows
from tools.context import ToolContext
from tools.models import ToolCall


class RunInProgress(Exception):
    """The conversation already has a running or waiting run."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.pk} is still {run.status} in this conversation")
        self.run = run


class RunLost(Exception):
    """The run is not this driver's any more (recovery closed it, or another process took it
    over): the step was not stored, and this driver stops without writing."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.pk} is no longer running under this driver")
        self.run = run


@dataclass
class Started:
    run: Run
    message: Message
    created: bool  # False when the client_id was seen before: nothing new was stored


def take_position(run: Run) -> int:
    """The next message position in the run's conversation.

    Counted in memory once known — only one run of a conversation is ever active, so
    nobody else appends meanwhile, and the unique (conversation, position) constraint
    would refuse a mistake — otherwise read from the database.
    """
    position = getattr(run, "next_position", None)
    if position is None:
        position = _next_position(run.conversation_id)
    run.next_position = position + 1
    return position


def _next_position(conversation_id: Any) -> int:
    last = Message.objects.filter(conversation_id=conversation_id).aggregate(m=Max("position"))["m"]
    return 0 if last is None else last + 1


def start_run(conversation: Conversation, user: Any, text: str, *, max_steps: int,
              client_id: Any = None, driver: str = "") -> Started:
    """Store the user's message and open a run for it, or return the earlier one for a
    repeated ``client_id``. Refuses while another run of the conversation is active.

    Both refusals are the database's own (unique indexes on a conversation's active run
    and on its messages' client ids), so concurrent requests cannot slip past a check. A
    conflict that is gone by the time it is looked at (the active run just finished) is
    tried again.
    """
    for attempt in range(_START_ATTEMPTS):
        try:
            return _start(conversation, user, text, max_steps=max_steps, client_id=client_id, driver=driver)
        except IntegrityError:
            earlier = None
            if client_id is not None:
                earlier = Message.objects.select_related("run").filter(conversation=conversation,
                                                                       client_id=client_id).first()
            if earlier is not None:
                return Started(earlier.run, earlier, False)  # type: ignore[arg-type]
            active = conversation.runs.filter(status__in=Run.ACTIVE).first()
            if active is not None:
                raise RunInProgress(active) from None
            if attempt == _START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


_START_ATTEMPTS = 3


def _start(conversation: Conversation, user: Any, text: str, *, max_steps: int, client_id: Any,
           driver: str) -> Started:
    with transaction.atomic():
        now = timezone.now()
        # The profile as stored now, not as the caller loaded it: a socket holds its
        # conversation for as long as it is open, and the model may have been switched
        # since (issue 14, assistant/transcript/switch.py).
        conversation.profile = Conversation.objects.filter(pk=conversation.pk).values_list(
            "profile", flat=True).first() or conversation.profile
        # ``driver``: the process that will drive the run holds it from the start (empty:
        # a worker will take it, assistant/runs/driver.py).
        run = rows.insert(Run(conversation=conversation, user=user, profile=conversation.profile,
                              max_steps=max_steps, driver=driver, created_at=now, updated_at=now))
        # The history the run starts from, read in the transaction that appends to it: the
        # loop extends it with exactly the rows it stores, never reading it again.
        history, run.next_position = history_cache.history_from(conversation.pk)
        attached = attachments.take_pending(conversation, user)  # issue 14: the composer's files
        message = rows.insert(Message(
            conversation=conversation, run=run, position=take_position(run),
            role=Message.Role.USER, content=text, client_id=client_id, created_at=now,
            attachments=[a.summary() for a in attached] or None,
        ))
        attachments.hand_over(message, attached)
        changes: dict[str, Any] = {"updated_at": now}
        if not conversation.title:
            changes["title"] = Conversation.title_from(text)
        rows.update(Conversation, conversation.pk, **changes)
        for key, value in changes.items():
            setattr(conversation, key, value)
        run.history = [*history, to_chat_message(message)]
        if driver:
            run.held_by = driver  # this process inserted the run held: it drives it without a take
        return Started(run, message, True)


def save_assistant_turn(run: Run, message_id: Any, *, content: str, tool_calls: list[dict[str, Any]],
                        input_tokens: int, output_tokens: int, provider_message_id: str = "",
                        interrupted: bool = False, completes_run: bool = False,
                        provider_state: dict[str, Any] | None = None, profile: str = "",
                        ) -> Message | None:
    """Store one model turn and count it against the run. An interrupted turn with no text
    is not stored at all: there is nothing the user or the model could use. A final answer
    (``completes_run``) also completes the run, in the same transaction. The returned
    message carries ``cancel_requested``, read in the same statement: whether someone
    (perhaps another process) asked to cancel the run, so its tool calls must not run.

    The run's row is updated only while it is still ``running`` under this driver (a
    conditional update): if recovery closed it or another process took it over meanwhile,
    nothing is stored — in particular a final answer never completes a run closed as
    interrupted — and :class:`RunLost` is raised."""
    with transaction.atomic():
        message = None
        if content or tool_calls or not interrupted:
            message = rows.insert(Message(
                id=message_id, conversation_id=run.conversation_id, run=run,
                position=take_position(run), role=Message.Role.ASSISTANT,
                content=content, tool_calls=[] if interrupted else tool_calls,
                status=Message.Status.INTERRUPTED if interrupted else Message.Status.COMPLETE,
                input_tokens=input_tokens, output_tokens=output_tokens,
                provider_message_id=provider_message_id or "", profile=profile,
                # What the model was offered this turn, set by the engine's offering step
                # (assistant/catalog/offer.py) on the run before the model was asked.
                offered_tools=getattr(run, "offered_tools", None),
                provider_state={} if interrupted else (provider_state or {}),
            ))
        run.steps += 1
        run.input_tokens += input_tokens
        run.output_tokens += output_tokens
        run.updated_at = timezone.now()
        changes: dict[str, Any] = {"steps": run.steps, "input_tokens": run.input_tokens,
                                   "output_tokens": run.output_tokens, "updated_at": run.updated_at}
        if completes_run:
            changes.update(status=Run.Status.COMPLETED, finished_at=run.updated_at)
        where: dict[str, Any] = {"status": Run.Status.RUNNING}
        if getattr(run, "driver", ""):
            where["driver"] = run.driver
        returned = rows.update(Run, run.pk, returning=("cancel_requested",), where=where, **changes)
        if returned is None:
            raise RunLost(run)  # rolls the message back with the transaction
        (cancel_requested,) = returned
        for key, value in changes.items():
            setattr(run, key, value)
        if message is not None:
            message.cancel_requested = bool(cancel_requested)
        return message


def count_tokens(run: Run, usage: Any) -> None:
    """Add a broken attempt's tokens to the run (and so to the user's budget); also renews
    the run's ``updated_at``, which recovery reads as the run's sign of life."""
    run.input_tokens += usage.input_tokens
    run.output_tokens += usage.output_tokens
    run.updated_at = timezone.now()
    rows.update(Run, run.pk, input_tokens=run.input_tokens, output_tokens=run.output_tokens,
                updated_at=run.updated_at)


Links = list[tuple[str, int, int]]


def link_tool_calls(run: Run, message: Message, record_ids: Links) -> None:
    """``record_ids``: (call_id, index, ToolCall pk) for each call of the assistant turn."""
    # A model that repeats a call id in a run gets the first call's record again (the
    # pipeline's idempotency key): that call is linked already.
    for call_id, index, pk in record_ids:
        rows.insert_unless_conflict(RunToolCall(run=run, message=message, call_id=call_id, index=index,
                                                tool_call_id=pk))


def save_tool_turn(run: Run, results: list[dict[str, Any]], *, links: tuple[Message, Links] | None = None,
                   ) -> Message:
    """Store a tool-results turn (and link the turn's calls to their records). The returned
    message carries ``cancel_requested``: whether someone (perhaps another process) asked to
    cancel the run, read in the same transaction."""
    with transaction.atomic():
        if links is not None:
            link_tool_calls(run, *links)
        message = rows.insert(Message(
            conversation_id=run.conversation_id, run=run, position=take_position(run),
            role=Message.Role.TOOL, tool_results=results,
        ))
        (cancel_requested,) = rows.values(Run, run.pk, "cancel_requested") or (False,)
        message.cancel_requested = bool(cancel_requested)
        return message


def finish_run(run: Run, status: str, *, error_code: str = "", error: str = "") -> None:
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status=status, error_code=error_code, error=error,
                                         finished_at=now, updated_at=now)
    run.status, run.error_code, run.error = status, error_code, error
    run.finished_at = run.updated_at = now


def park_run(run: Run, message: Message, links: Links) -> bool:
    """Link the turn's calls to their records and wait: what resume reads, written together."""
    with transaction.atomic():
        link_tool_calls(run, message, links)
        return run.claim(Run.Status.RUNNING, Run.Status.WAITING, driver="")  # nobody drives a parked run


def last_assistant_turn(run: Run) -> Message | None:
    return run.messages.filter(role=Message.Role.ASSISTANT).order_by("-position").first()


def tool_records(message: Message) -> list[tuple[RunToolCall, ToolCall]]:
    links = list(RunToolCall.objects.filter(message=message).select_related("tool_call").order_by("index"))
    return [(link, link.tool_call) for link in links]


def call_key(run_id: Any, call_id: str) -> str:
    """The pipeline idempotency key of a run's tool call: a call id runs at most once per run."""
    return f"run:{run_id}:{call_id}"


def records_by_call(run: Run, message: Message) -> dict[str, ToolCall]:
    """The ToolCall record of each call the turn made, by call id, found by the idempotency
    key the engine gave it (written with the record, before the tool ran) and, for records
    made another way, by the turn's links (written only with the tool-results turn)."""
    first, retried = records_by_key(run, message)
    found = {**first, **retried}  # a call run again (an idempotent tool) answers with its retry
    found.update({link.call_id: record for link, record in tool_records(message)})
    return found


def retry_key(run_id: Any, call_id: str) -> str:
    """The key of the one re-run of an idempotent call cut off by a dead process."""
    return f"{call_key(run_id, call_id)}:retry"


def records_by_key(run: Run, message: Message) -> tuple[dict[str, ToolCall], dict[str, ToolCall]]:
    """The turn's records by call id, found by idempotency key: the first runs, and the
    re-runs of idempotent calls (:func:`retry_key`)."""
    context = ToolContext(user=SimpleNamespace(pk=run.user_id))  # the key is scoped to the user
    keys = {}
    for call in message.tool_calls:
        keys[records.scoped_key(call_key(run.pk, call["id"]), context)] = (0, call["id"])
        keys[records.scoped_key(retry_key(run.pk, call["id"]), context)] = (1, call["id"])
    found: tuple[dict[str, ToolCall], dict[str, ToolCall]] = ({}, {})
    for record in ToolCall.objects.filter(idempotency_key__in=list(keys)):
        which, call_id = keys[record.idempotency_key]
        found[which][call_id] = record
    return found


def has_tool_turn_after(message: Message) -> bool:
    return Message.objects.filter(conversation_id=message.conversation_id, position__gt=message.position,
                                  role=Message.Role.TOOL).exists()


def request_cancel(run_id: Any) -> Run | None:
    Run.objects.filter(pk=run_id).exclude(status__in=Run.FINISHED).update(cancel_requested=True)
    return Run.objects.filter(pk=run_id).first()


