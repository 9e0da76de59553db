"""The MCP server Toolgate serves at ``/mcp``: the handlers (``server``) plus tasks (``tasks``).

The SDK derives the capabilities it announces from the handlers it dispatches itself;
tasks it does not dispatch, so their capability is added here (the 2025-11-25 ``initialize``
answer carries it; the other revisions' shapes have no place for it and drop it).
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import Server

from assistant.mcp import server, tasks


class ToolgateServer(Server):
    def get_capabilities(self, *args: Any, **kwargs: Any) -> types.ServerCapabilities:
        return super().get_capabilities(*args, **kwargs).model_copy(update={"tasks": tasks.CAPABILITY})


def build() -> Server:
    app = ToolgateServer(server.SERVER_NAME, instructions=server.INSTRUCTIONS,
                         on_list_tools=server.list_tools, on_call_tool=server.call_tool)
    tasks.install(app)
    return app
