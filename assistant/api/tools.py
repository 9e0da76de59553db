"""``/api/v1/tools``: list the caller's tools, export their schemas, and call them.

A call takes exactly the path a chat call takes — :meth:`tools.pipeline.Pipeline.call`
with the caller as the user — so validation, permissions, rate limits, the approval
policy and the audit trail are the same; only the scope says ``{"source": "api"}``. A tool
the caller may not use is a 404, exactly like one that does not exist.

Status codes of a call: 200 when the tool ran (``status`` is ``ok``, or ``error`` when the
tool itself failed or timed out); 202 when it waits for approval; and for a call refused
before it ran, the error shape with the pipeline's error type as ``code`` and the full
structured result as ``details``: 422 ``validation_error`` / ``invalid_json``, 403
``permission_denied`` / ``denied``, 429 ``rate_limited``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Body, Query, Router, Status

from approvals.models import ApprovalRequest
from assistant.api.auth import caller
from assistant.api.errors import ApiError, responses
from assistant.api.schemas import PendingOut, ToolList, ToolOut, ToolResultOut
from tools.context import ToolContext
from tools.definition import Tool
from tools.errors import ErrorType
from tools.exports import export
from tools.gate import aavailable_tools
from tools.pipeline import Pipeline, ToolCallRequest, ToolResult
from tools.registry import registry

router = Router(tags=["tools"])

REFUSED: dict[str, int] = {
    ErrorType.VALIDATION_ERROR: 422, ErrorType.INVALID_JSON: 422, ErrorType.PERMISSION_DENIED: 403,
    ErrorType.DENIED: 403, ErrorType.RATE_LIMITED: 429, ErrorType.UNKNOWN_TOOL: 404,
}


async def usable_tool(user: Any, name: str) -> Tool:
    """The tool if this user may use it; otherwise 404, whether or not it exists."""
    tool = registry.get(name)
    if tool is None or tool not in await aavailable_tools(user, [tool]):
        raise ApiError(404, "not_found", f"There is no tool named {name!r} available to you.")
    return tool


def tool_out(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "risk": str(tool.risk),
            "read_only": tool.read_only, "parameters": tool.parameters}


@router.get("/tools", response={200: ToolList, **responses(401)}, summary="The tools you may use")
async def list_tools(request: HttpRequest) -> Any:
    return {"items": [tool_out(t) for t in await aavailable_tools(caller(request), registry)]}


@router.get("/tools/{name}", response={200: ToolOut, **responses(401, 404, 422)}, summary="One tool")
async def get_tool(request: HttpRequest, name: str) -> Any:
    return tool_out(await usable_tool(caller(request), name))


@router.get("/tools/{name}/schema", response={200: dict[str, Any], **responses(401, 404, 422)},
            summary="A tool's definition in a provider's format")
async def tool_schema(request: HttpRequest, name: str,
                      format: Query[Literal["openai", "anthropic", "responses"]] = "openai") -> Any:
    return export(await usable_tool(caller(request), name), format)


@router.post("/tools/{name}/call", response={200: ToolResultOut, 202: PendingOut,
                                              **responses(400, 401, 403, 404, 422, 429)},
             summary="Call a tool (the same pipeline and policy as chat)")
async def call_tool(request: HttpRequest, name: str, arguments: Body[dict[str, Any]]) -> Any:
    user = caller(request)
    await usable_tool(user, name)
    result = await Pipeline().call(ToolCallRequest(name, json.dumps(arguments)),
                                   ToolContext(user=user, scope={"source": "api"}))
    if result.status == "pending":
        return Status(202, await pending_body(result))
    refused = refusal_status(result)
    if refused is not None:
        raise refusal(result, refused)
    return result.as_dict()


def refusal_status(result: ToolResult) -> int | None:
    """The HTTP status of a call refused before it ran; ``None`` if it ran (or crashed)."""
    if result.status != "error" or result.error is None:
        return None
    if result.error.type == ErrorType.DENIED and result.error.extra.get("rule") == "policy:rate_limit":
        return 429  # an administrator's per-user limit, reported by the policy as a denial
    return REFUSED.get(result.error.type)


def refusal(result: ToolResult, status: int) -> ApiError:
    assert result.error is not None
    headers = {}
    retry_after = result.error.extra.get("retry_after")
    if status == 429 and isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    code = "rate_limited" if status == 429 else str(result.error.type)
    return ApiError(status, code, result.error.message, result.as_dict(), headers)


async def pending_body(result: ToolResult) -> dict[str, Any]:
    approval = await ApprovalRequest.objects.aget(tool_call_id=result.record_id)
    return {"status": "pending", "approval_id": approval.pk,
            "approval_url": f"/api/v1/approvals/{approval.pk}", "call": result.as_dict()}
