"""MCP tasks (protocol 2025-11-25): call now, disconnect, fetch the outcome later.

A client that adds ``task`` to a ``tools/call`` gets a task at once instead of a request
held open while an approver decides: ``tasks/get`` reports it, ``tasks/result`` waits for
and returns the outcome (the ``CallToolResult`` the open request would have carried),
``tasks/list`` lists the token's tasks and ``tasks/cancel`` cancels a call still waiting
for approval (audited like ``notifications/cancelled``).

The SDK (``mcp`` 2.3) carries these messages as types only; its runner serves neither the
methods nor a ``CreateTaskResult`` for ``tools/call``. So the methods are registered as
request handlers, and a task-augmented ``tools/call`` is answered by a server middleware,
before the SDK's ``CallToolResult``-only check of the answer.

A task *is* its tool call: its id and requested lifetime are stored in the call's record
(``scope.mcp.task``) as it is created, so a task survives restarts, is found from any
process (stateless endpoint, several Daphne processes) and is bound to the token that made
it — another token, even its owner's, is told the task does not exist. Its status comes
from the record: parked or running → ``working``; succeeded → ``completed``; cancelled →
``cancelled``; denied, expired, rejected or failed → ``failed`` (``tasks/result`` gives the
``isError`` result with the decision). ``input_required`` is never used: the input a parked
call waits for is an approver's, not the client's.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import mcp_types as types
from django.conf import settings
from django.utils import timezone
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from assistant.mcp import server, waiting
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolResult

logger = logging.getLogger(__name__)

VERSION = "2025-11-25"  # the revision whose core has tasks (2026-07-28 moved them to an extension)
RELATED = "io.modelcontextprotocol/related-task"
METHOD_NOT_FOUND, INVALID_PARAMS = -32601, -32602
CANCEL_REASON = "the MCP client cancelled the task"
ANSWER_WITHIN = 1.0  # seconds a call that runs at once may take before its task is answered as working
PAGE = 50

_background: set[asyncio.Future[Any]] = set()  # calls still running after their task was answered


def _finished(call: asyncio.Future[Any]) -> None:
    """A task's call has ended; one that failed after its task was answered is logged (its
    record says what happened, as the pipeline finishes every record it opens)."""
    _background.discard(call)
    if not call.cancelled() and call.exception() is not None and not isinstance(call.exception(), MCPError):
        logger.error("MCP task call failed", exc_info=call.exception())


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _status(record: ToolCall) -> tuple[str, str]:
    if record.status == ToolCall.Status.PENDING:
        return "working", "waiting for an approver"
    if record.status == ToolCall.Status.RUNNING:
        return "working", "running"
    if record.status == ToolCall.Status.SUCCEEDED:
        return "completed", "the call succeeded"
    message = str((record.error or {}).get("message", "the call failed"))[:500]
    if record.status == ToolCall.Status.DENIED and record.gate_rule == waiting.CANCEL_RULE:
        return "cancelled", message
    return "failed", message


def as_task(record: ToolCall) -> types.Task:
    task = record.scope["mcp"]["task"]
    status, message = _status(record)
    updated = record.finished_at or record.started_at or record.created_at
    return types.Task(task_id=task["id"], status=status, status_message=message,  # type: ignore[arg-type]
                      created_at=_iso(record.created_at), last_updated_at=_iso(updated),
                      ttl=task["ttl"], poll_interval=_ms(settings.MCP_SERVER_POLL_SECONDS))


def _wire(model: Any) -> dict[str, Any]:
    """The wire form (``tasks/get`` and ``tasks/cancel`` answer with the task's own fields)."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def _live(record: ToolCall) -> bool:
    ttl = record.scope["mcp"]["task"].get("ttl")
    return ttl is None or record.created_at + timedelta(milliseconds=ttl) > timezone.now()


def _of_token(ctx: ServerRequestContext) -> Any:
    token = server._token(ctx)
    return ToolCall.objects.filter(user=token.user, scope__source="mcp", scope__mcp__token=token.pk,
                                   scope__mcp__has_key="task")


def _guard(ctx: ServerRequestContext) -> None:
    if ctx.protocol_version != VERSION:  # tasks are in the core of 2025-11-25 only
        raise MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=ctx.method)


async def _find(ctx: ServerRequestContext, task_id: str) -> ToolCall:
    _guard(ctx)
    record = await _of_token(ctx).filter(scope__mcp__task__id=task_id).afirst()
    if record is None or not _live(record):  # another token's task does not exist for this one
        raise MCPError(code=INVALID_PARAMS, message=f"Task not found: no task {task_id!r} for this token.")
    return record


# -- tools/call with ``task`` ---------------------------------------------------------------

async def middleware(ctx: ServerRequestContext, call_next: Any) -> Any:
    """Answer a task-augmented ``tools/call`` with a ``CreateTaskResult``; the rest passes."""
    params = ctx.params
    if (ctx.method != "tools/call" or ctx.protocol_version != VERSION or not isinstance(params, dict)
            or params.get("task") is None):
        return await call_next(ctx)
    try:
        typed = types.CallToolRequestParams.model_validate(params, by_name=False)
    except ValidationError:
        raise MCPError(code=INVALID_PARAMS, message="Invalid request parameters") from None
    created = await create(ctx, typed)
    return created if isinstance(created, dict) else _wire(types.CreateTaskResult(task=created))


async def create(ctx: ServerRequestContext,
                 params: types.CallToolRequestParams) -> types.Task | dict[str, Any]:
    """Start the call as a task; its task once parked, finished, or still running after
    ``ANSWER_WITHIN`` seconds (it then goes on in this process and is recorded as ever)."""
    limit = _ms(settings.MCP_SERVER_TASK_TTL_SECONDS)
    asked = params.task.ttl if params.task is not None else None
    task_id = secrets.token_urlsafe(18)
    call = asyncio.ensure_future(server.start_call(
        ctx, params, task={"id": task_id, "ttl": min(asked, limit) if asked and asked > 0 else limit}))
    _background.add(call)
    call.add_done_callback(_finished)
    await asyncio.wait({call}, timeout=ANSWER_WITHIN)
    record = None
    if not call.done():  # still running: its record is there (or it is about to be)
        record = await _of_token(ctx).filter(scope__mcp__task__id=task_id).afirst()
    if record is None:
        result: ToolResult = await call  # an unknown tool raises the protocol error here
        if result.record_id is None:  # nothing was recorded, so there is no task: the plain result
            return _wire(await server.as_mcp(result))
        record = await ToolCall.objects.aget(pk=result.record_id)
    return as_task(record)


# -- tasks/get, tasks/result, tasks/list, tasks/cancel --------------------------------------

async def get(ctx: ServerRequestContext, params: types.GetTaskRequestParams) -> dict[str, Any]:
    return _wire(as_task(await _find(ctx, params.task_id)))


async def result(ctx: ServerRequestContext, params: types.GetTaskPayloadRequestParams) -> dict[str, Any]:
    """The call's ``CallToolResult``, once it is settled: waits (with keep-alive progress, if
    asked for) while an approver has not decided."""
    record = await _find(ctx, params.task_id)
    outcome = await server.wait_for_outcome(ctx, record.pk)
    body = _wire(outcome)
    body["_meta"] = {**body.get("_meta", {}), RELATED: {"taskId": params.task_id}}
    return body


async def list_tasks(ctx: ServerRequestContext, params: types.PaginatedRequestParams) -> dict[str, Any]:
    _guard(ctx)
    records = _of_token(ctx).order_by("-pk")
    if params.cursor:
        if not (params.cursor.isascii() and params.cursor.isdigit() and len(params.cursor) <= 18):
            raise MCPError(code=INVALID_PARAMS, message=f"Invalid cursor {params.cursor!r}.")
        records = records.filter(pk__lt=int(params.cursor))
    page = [r async for r in records[:PAGE]]
    tasks = [as_task(r) for r in page if _live(r)]
    cursor = str(page[-1].pk) if len(page) == PAGE else None
    return _wire(types.ListTasksResult(tasks=tasks, next_cursor=cursor))


async def cancel(ctx: ServerRequestContext, params: types.CancelTaskRequestParams) -> dict[str, Any]:
    """Cancel a call that waits for approval: closed as ``denied`` by ``system:cancel``, its
    approval request ``cancelled``, both audited. A running or finished call is not touched."""
    record = await _find(ctx, params.task_id)
    if record.status == ToolCall.Status.PENDING:
        await Pipeline().deny_pending(record.pk, CANCEL_REASON, rule=waiting.CANCEL_RULE)
        await waiting.wake(record.pk)
        record = await ToolCall.objects.aget(pk=record.pk)
        if record.gate_reason == CANCEL_REASON:  # this cancel closed it (not an approval first)
            return _wire(as_task(record))
    status, _ = _status(record)
    why = ("it is already running; it will finish and be recorded" if status == "working"
           else f"it is already {status}")
    raise MCPError(code=INVALID_PARAMS, message=f"Cannot cancel task {params.task_id!r}: {why}.")


def install(mcp_server: Any) -> None:
    """Serve tasks on ``mcp_server`` (an SDK ``Server``)."""
    mcp_server.middleware.append(middleware)
    mcp_server.add_request_handler("tasks/get", types.GetTaskRequestParams, get)
    mcp_server.add_request_handler("tasks/result", types.GetTaskPayloadRequestParams, result)
    mcp_server.add_request_handler("tasks/list", types.PaginatedRequestParams, list_tasks)
    mcp_server.add_request_handler("tasks/cancel", types.CancelTaskRequestParams, cancel)


CAPABILITY = types.ServerTasksCapability(
    list=types.TasksListCapability(), cancel=types.TasksCancelCapability(),
    requests=types.ServerTasksRequestsCapability(tools=types.TasksToolsCapability(call=types.TasksCallCapability())),
)
