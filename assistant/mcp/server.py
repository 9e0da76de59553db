"""The MCP handlers: ``tools/list`` and ``tools/call`` for the token's owner.

``tools/call`` is exactly the REST API's call (``assistant.api.tools``): one
:meth:`tools.pipeline.Pipeline.call` as the token's user, with the scope saying where it
came from — ``{"source": "mcp", "mcp": {client, token, session, request_id}}`` — which the
audit log (``call.proposed``) and the approval queue show. A call the policy parks keeps
its request open (``waiting``) until it is decided. The call itself runs shielded: a client
that goes away never cuts a running tool short; its outcome is recorded either way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from django.core.cache import cache
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError

from approvals.models import ApprovalRequest
from assistant.mcp import http, offer, sessions, waiting
from assistant.models import ApiToken
from tools.context import ToolContext
from tools.pipeline import Pipeline, ToolCallRequest, ToolResult

INVALID_PARAMS = -32602
SERVER_NAME = "toolgate"
INSTRUCTIONS = ("Toolgate: every call is checked by policy, may wait for a human approver (the request "
                "stays open meanwhile), and is audited.")


def _token(ctx: ServerRequestContext) -> ApiToken:
    request = ctx.request
    token = request.scope.get(http.TOKEN_SCOPE_KEY) if request is not None else None
    if not isinstance(token, ApiToken):  # the endpoint always sets it; never serve without
        raise MCPError(code=-32001, message="Not authenticated.")
    return token


async def list_tools(ctx: ServerRequestContext,
                     params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    tools = await offer.offered(_token(ctx))
    return types.ListToolsResult(tools=[types.Tool.model_validate(o.as_mcp()) for o in tools])


async def _client(ctx: ServerRequestContext, token: ApiToken) -> dict[str, str]:
    """Who the client says it is: this request's own client info (protocol 2026-07-28), the
    client of this request's ``Mcp-Session-Id`` (older revisions: minted at ``initialize``,
    see ``sessions``), the last ``initialize`` seen for this token (a client that does not
    send the session id back), else its User-Agent."""
    params = ctx.session.client_params
    if params is not None and params.client_info is not None:
        return {"name": params.client_info.name[:200], "version": (params.client_info.version or "")[:100]}
    scope = ctx.request.scope if ctx.request is not None else {}
    session = scope.get(http.SESSION_SCOPE_KEY)
    if isinstance(session, sessions.Session):
        return session.client
    remembered = await cache.aget(http.client_cache_key(token.pk))
    if isinstance(remembered, dict):
        return remembered
    agent = ctx.request.headers.get("user-agent", "") if ctx.request is not None else ""
    return {"name": agent[:200], "version": ""}


def _progress_token(ctx: ServerRequestContext) -> Any:
    meta = ctx.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))  # type: ignore[union-attr]


def progress_sender(ctx: ServerRequestContext) -> Callable[[str, float, float | None, str | None],
                                                           Awaitable[None]]:
    """Progress notifications on this request, if the client asked for them (a progress token)."""
    progress_token = _progress_token(ctx)

    async def progress(call_id: str, done: float, total: float | None, message: str | None) -> None:
        if progress_token is not None:
            await ctx.session.send_progress_notification(progress_token, done, total, message,
                                                         related_request_id=ctx.request_id)

    return progress


async def start_call(ctx: ServerRequestContext, params: types.CallToolRequestParams, *,
                     task: dict[str, Any] | None = None) -> ToolResult:
    """Run ``params`` through the pipeline as the token's owner; the result as the pipeline
    gives it (``pending`` when the policy parked the call). ``task`` is recorded in the
    call's scope (``scope.mcp.task``): a task-augmented call's task lives on its record."""
    token = _token(ctx)
    offered = await offer.find(token, params.name)
    if offered is None:
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: there is no tool named {params.name!r} "
                       "available to this token.")
    scope_session = ctx.request.scope.get(http.SESSION_SCOPE_KEY) if ctx.request is not None else None
    session = scope_session.id if isinstance(scope_session, sessions.Session) else ""
    mcp: dict[str, Any] = {
        "client": await _client(ctx, token), "token": token.pk, "token_prefix": token.prefix,
        "token_name": token.name, "session": session, "request_id": str(ctx.request_id),
    }
    if task is not None:
        mcp["task"] = task
    progress = progress_sender(ctx) if task is None else None
    context = ToolContext(user=token.user, scope={"source": "mcp", "mcp": mcp}, progress=progress)
    # Shielded: a disconnect must not cut a running tool short (it finishes and is recorded).
    return await asyncio.shield(asyncio.ensure_future(
        Pipeline().call(ToolCallRequest(params.name, params.arguments or {}), context)))


async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    result = await start_call(ctx, params)
    if result.status == "pending" and result.record_id is not None:
        return await wait_for_outcome(ctx, result.record_id)
    return await as_mcp(result)


async def wait_for_outcome(ctx: ServerRequestContext, record_id: int) -> types.CallToolResult:
    """Hold this request open until the parked call is settled, with keep-alive progress."""
    approval = await ApprovalRequest.objects.filter(tool_call_id=record_id).afirst()
    label = f"approval #{approval.pk}" if approval is not None else f"call #{record_id}"
    progress = progress_sender(ctx)

    async def keepalive(seconds: float) -> None:
        await progress("", round(seconds, 1), None, f"waiting for an approver ({label})")

    record = await waiting.wait_settled(record_id, keepalive)
    return await as_mcp(ToolResult.from_record(record), approval.pk if approval is not None else None)


async def as_mcp(result: ToolResult, approval_id: int | None = None) -> types.CallToolResult:
    """A pipeline result as MCP's ``CallToolResult`` (an error, denial or expiry: ``isError``)."""
    meta: dict[str, Any] = {"toolgate/callId": result.call_id, "toolgate/recordId": result.record_id}
    if approval_id is not None:
        meta["toolgate/approvalId"] = approval_id
    if result.status == "ok":
        output = result.output
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        structured = output if isinstance(output, dict) else None
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured,
                                    meta=meta)
    error = result.error.as_dict() if result.error is not None else {"type": "execution_error",
                                                                    "message": "the call failed"}
    structured: dict[str, Any] = {"error": error}
    if result.record_id is not None:  # (a parked call's approval request: its decision)
        approval = await ApprovalRequest.objects.filter(tool_call_id=result.record_id).select_related(
            "decided_by").afirst()
        if approval is not None:
            meta["toolgate/approvalId"] = approval.pk
            structured["decision"] = {
                "status": approval.status, "reason": approval.reason,
                "decided_by": approval.decided_by.get_username() if approval.decided_by else None,
            }
    message = error.get("message", "the call failed")
    if error.get("hint"):
        message = f"{message}\n{error['hint']}"
    return types.CallToolResult(content=[types.TextContent(text=message)], structured_content=structured,
                                is_error=True, meta=meta)
