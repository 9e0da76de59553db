"""Toolgate's built-in tools, registered when the app registry is ready (see tools.registry).

Each module under ``tools.builtin`` exports ``TOOLS``, the list of tools it defines.
"""

from tools.builtin import calculator, clock, files, mail, notes, sandbox, sql, units, web
from tools.registry import registry
from tools.selection import search_tool

for module in (calculator, clock, units, notes, files, sql, web, mail, sandbox):
    for item in module.TOOLS:
        registry.register(item)
# Offered only when a user may use more tools than TOOLS_SELECTION_THRESHOLD (the engine).
registry.register(search_tool(registry))

# MCP servers configured in the admin or with ``manage.py mcp`` (docs/mcp.md): connected
# lazily, on the first look at the tools in each process.
from tools.mcp.source import McpSource, connect_signals  # noqa: E402

mcp_source = McpSource(registry)
registry.add_source(mcp_source)
connect_signals(mcp_source)
