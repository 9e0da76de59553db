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
