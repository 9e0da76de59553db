"""The tool framework: typed Python functions become validated, confined, audited tools.

``tools`` knows nothing of chat or approvals. Public entry points::

    from tools import tool, ToolContext, Risk, Retry
    from tools.registry import registry
    from tools.pipeline import Pipeline, ToolCallRequest
"""

from tools.context import ToolContext
from tools.definition import Retry, Risk, Tool, tool
from tools.errors import ArgumentError, ToolDefinitionError, TransientToolError

__all__ = [
    "ArgumentError",
    "Retry",
    "Risk",
    "Tool",
    "ToolContext",
    "ToolDefinitionError",
    "TransientToolError",
    "tool",
]
