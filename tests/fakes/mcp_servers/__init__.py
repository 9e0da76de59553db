"""Small real MCP servers, written with the official SDK, that the tests start (stdio and
Streamable HTTP). ``toy.py`` is a standalone script: a stdio server gets no PYTHONPATH."""

from pathlib import Path

TOY = str(Path(__file__).with_name("toy.py"))
