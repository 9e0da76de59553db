"""A toy MCP server built on the SDK's low-level ``Server``, for the tests and benchmarks.

Every behaviour a client must survive is one tool: annotations of each kind, a malformed
schema, an invalid name, a slow tool, one that crashes the process mid-call, a huge
result, images and resources, ``isError``, progress, and a tool that changes the list.
Side effects are appended as JSON lines to ``events.jsonl`` in the working directory (or
``--events``), so a test can count how often a tool really ran.

    python toy.py [--transport stdio|http] [--port N] [--extra-tools N] [--page-size N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged

ARGS: argparse.Namespace
OBJ: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None,
          **hints: Any) -> types.Tool:
    annotations = types.ToolAnnotations(**hints) if hints else None
    return types.Tool(name=name, description=description, input_schema=schema or OBJ, annotations=annotations)


TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
BASE_TOOLS = [
    _tool("echo", "Echo the text back.", TEXT, read_only_hint=True),
    _tool("delete_file", "Delete a file (records the deletion).",
          {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
          destructive_hint=True),
    _tool("plain", "A tool without annotations."),
    _tool("idempotent", "Annotated, but neither read-only nor destructive.", idempotent_hint=True,
          destructive_hint=False),
    _tool("bad_schema", "Its schema is not valid JSON Schema.",
          {"type": "object", "properties": {"x": {"type": "strin"}}}),
    _tool("bad name!", "Its name is not valid for any provider.", read_only_hint=True),
    _tool("slow", "Sleep for `seconds`, reporting progress each tenth.",
          {"type": "object", "properties": {"seconds": {"type": "number"}}}, read_only_hint=True),
    _tool("crash", "Kill the server process mid-call.", read_only_hint=True),
    _tool("huge", "Return `chars` characters of text.",
          {"type": "object", "properties": {"chars": {"type": "integer"}}}, read_only_hint=True),
    _tool("media", "Return text, an image, an embedded resource and structured data.", read_only_hint=True),
    _tool("fail", "Report an error (isError).", read_only_hint=True),
    _tool("environment", "Return the names and values of the process's environment.", read_only_hint=True),
    _tool("headers", "Return the HTTP request headers (HTTP transport only).", read_only_hint=True),
    _tool("add_tool", "Add the tool `late` and tell the client the list changed.", read_only_hint=True),
]
LATE = _tool("late", "A tool that appeared after start-up.", read_only_hint=True)
TOOLS: list[types.Tool] = []
BUS = InMemorySubscriptionBus()  # subscriptions/listen streams (2026-07-28 clients)


def _events_path() -> Path:
    return Path(ARGS.events) if ARGS.events else Path.cwd() / "events.jsonl"


def record(**event: Any) -> None:
    with _events_path().open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": time.time(), "ppid": os.getppid(), **event}) + "\n")


async def list_tools(ctx: ServerRequestContext,
                     params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    if ARGS.endless:  # a hostile server: the same page, and a cursor that never ends
        return types.ListToolsResult(tools=TOOLS[:2], next_cursor="0")
    size = ARGS.page_size or len(TOOLS)
    page = TOOLS[start:start + size]
    more = start + size < len(TOOLS)
    return types.ListToolsResult(tools=page, next_cursor=str(start + size) if more else None)


def text(value: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=value)])


async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    name, args = params.name, params.arguments or {}
    record(tool=name, arguments=args)
    if name == "echo" or (name.startswith("t") and name[1:].isdigit()):
        return text(str(args.get("text", "")))
    if name == "delete_file":
        return text(f"deleted {args.get('path')}")
    if name == "slow":
        seconds = float(args.get("seconds", 1.0))
        meta = ctx.meta or {}
        token = meta.get("progress_token", meta.get("progressToken"))
        try:
            for step in range(1, 11):
                await asyncio.sleep(seconds / 10)
                if token is not None:
                    await ctx.session.send_progress_notification(
                        token, step, 10, f"step {step} of 10", related_request_id=ctx.request_id)
        except asyncio.CancelledError:
            record(tool="slow", cancelled=True)
            raise
        return text(f"slept {seconds} s")
    if name == "crash":
        os._exit(3)
    if name == "huge":
        return text("x" * int(args.get("chars", 1_000_000)))
    if name == "media":
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 92).decode()
        return types.CallToolResult(content=[
            types.TextContent(text="here you are"),
            types.ImageContent(data=png, mime_type="image/png"),
            types.EmbeddedResource(resource=types.TextResourceContents(
                uri="file:///notes.txt", mime_type="text/plain", text="resource text")),
        ], structured_content={"answer": 42})
    if name == "fail":
        return types.CallToolResult(content=[types.TextContent(text="the disk is full")], is_error=True)
    if name == "environment":
        return types.CallToolResult(content=[types.TextContent(text="env")],
                                    structured_content={"env": dict(os.environ)})
    if name == "headers":
        request = ctx.request
        headers = dict(request.headers) if request is not None else {}
        return types.CallToolResult(content=[types.TextContent(text="headers")],
                                    structured_content={"headers": headers})
    if name == "add_tool":
        if LATE not in TOOLS:
            TOOLS.append(LATE)
        if ARGS.no_listen or not _modern(ctx):
            await ctx.session.send_tool_list_changed()  # the handshake-era notification
        else:
            await BUS.publish(ToolsListChanged())  # 2026-07-28: on every subscriptions/listen stream
        return text("added")
    if name == "late":
        return text("late tool ran")
    raise ValueError(f"unknown tool {name}")


def build() -> Server:
    TOOLS.extend(BASE_TOOLS if not ARGS.only_extra else [])
    TOOLS.extend(_tool(f"t{i:04d}", f"Generated tool number {i}: echoes its text.", TEXT,
                       read_only_hint=True)
                 for i in range(ARGS.extra_tools))
    listen = None if ARGS.no_listen else ListenHandler(BUS)
    return Server("toy", on_list_tools=list_tools, on_call_tool=call_tool, on_subscriptions_listen=listen)


def _modern(ctx: ServerRequestContext) -> bool:
    return str(getattr(ctx, "protocol_version", "") or "") >= "2026-07-28"


async def serve_stdio(server: Server) -> None:
    from mcp.server.stdio import stdio_server

    changes = NotificationOptions(tools_changed=True)
    options = server.create_initialization_options(notification_options=changes)
    async with stdio_server() as (read, write):
        await server.run(read, write, options)


def serve_http(server: Server) -> None:
    import uvicorn

    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=ARGS.port, log_level="warning")


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--extra-tools", type=int, default=0)
    parser.add_argument("--only-extra", action="store_true")
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--events", default="")
    parser.add_argument("--endless", action="store_true")
    parser.add_argument("--no-listen", action="store_true", help="do not serve subscriptions/listen")
    ARGS = parser.parse_args()
    server = build()
    if ARGS.transport == "stdio":
        asyncio.run(serve_stdio(server))
    else:
        serve_http(server)


if __name__ == "__main__":
    sys.exit(main())
