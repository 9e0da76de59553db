"""An MCP ``CallToolResult`` → what the pipeline stores and the model is shown.

Text blocks keep their text; ``structuredContent`` is kept as data; images, audio and
resources are *described* (type, MIME type, size, URI, and the text of a text
resource), never silently dropped and never passed on as raw base64. ``isError`` becomes
a tool error the model sees as such. Sizes are capped here first, so a hostile server's
megabytes never reach the database; the pipeline's own result cap applies after that.
"""

from __future__ import annotations

import base64
from typing import Any

from tools.errors import ErrorType, ToolError, ToolReportedError

MAX_TEXT = 200_000  # characters kept of any one text block before the pipeline's own cap


def convert(name: str, result: Any) -> Any:
    """The tool's output, or :class:`ToolReportedError` for an ``isError`` result."""
    blocks = [describe(block) for block in (result.content or [])]
    output: dict[str, Any] = {}
    if result.structured_content is not None:
        output["structured"] = result.structured_content
    texts = [b["text"] for b in blocks if b.get("type") == "text"]
    others = [b for b in blocks if b.get("type") != "text"]
    if texts:
        output["text"] = "\n".join(texts)
    if others:
        output["content"] = others
    if result.is_error:
        message = output.get("text") or "the server reported an error without saying what went wrong"
        raise ToolReportedError(ToolError(
            ErrorType.EXECUTION_ERROR, f"{name} failed: {_clip(str(message), 2000)}",
            hint="The tool reported this error itself; fix the request or tell the user.",
            extra={k: v for k, v in output.items() if k != "text"},
        ))
    if set(output) == {"text"}:
        return output["text"]  # the common case: just the text
    return output


def describe(block: Any) -> dict[str, Any]:
    kind = getattr(block, "type", "unknown")
    if kind == "text":
        return {"type": "text", "text": _clip(block.text, MAX_TEXT)}
    if kind in ("image", "audio"):
        return {"type": kind, "mime_type": block.mime_type, "bytes": _decoded_size(block.data),
                "note": f"an {kind} the tool returned; it is not shown to the model"}
    if kind == "resource_link":
        return {"type": "resource_link", "uri": str(block.uri), "name": block.name,
                "mime_type": block.mime_type, "description": _clip(block.description or "", 1000)}
    if kind == "resource":
        res = block.resource
        body: dict[str, Any] = {"type": "resource", "uri": str(res.uri), "mime_type": res.mime_type}
        if hasattr(res, "text"):
            body["text"] = _clip(res.text, MAX_TEXT)
        else:
            body["bytes"] = _decoded_size(res.blob)
            body["note"] = "binary content the tool returned; it is not shown to the model"
        return body
    return {"type": str(kind), "note": "a kind of content Toolgate does not know; not shown"}


def _decoded_size(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (ValueError, TypeError):
        return len(data)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut {len(text) - limit} characters]"
