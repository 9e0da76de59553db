"""Registers one tool into the global registry when autodiscovered."""

from tools import tool
from tools.registry import registry


@tool
def discovered_tool(text: str) -> str:
    """Echo the text (registered by autodiscovery)."""
    return text


registry.register(discovered_tool)
