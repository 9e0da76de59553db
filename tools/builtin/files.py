"""Placeholder: filled in by the built-in tools work."""

from tools.definition import Tool

TOOLS: list[Tool] = []
