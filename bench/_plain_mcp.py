"""A plain MCP server made with the SDK alone (no Toolgate), served by Daphne like Toolgate
is: the baseline of bench/mcp_gateway.py. Stateless Streamable HTTP, SSE answers, one tool.

    daphne bench._plain_mcp:application
"""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

TOOL = types.Tool(name="calculator", description="Return 2.", input_schema={
    "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})


async def list_tools(ctx: ServerRequestContext, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text='{"result": 2}')],
                                structured_content={"result": 2})


_manager = StreamableHTTPSessionManager(app=Server("plain", on_list_tools=list_tools, on_call_tool=call_tool),
                                        stateless=True)
_ready: asyncio.Future[None] | None = None
_task: Any = None


async def _run(ready: asyncio.Future[None]) -> None:
    async with _manager.run():
        ready.set_result(None)
        await asyncio.Event().wait()


async def application(scope: Any, receive: Any, send: Any) -> None:
    global _ready, _task
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if _ready is None:
        _ready = asyncio.get_running_loop().create_future()
        _task = asyncio.ensure_future(_run(_ready))
    await asyncio.shield(_ready)
    await _manager.handle_request(scope, receive, send)
