"""Toolgate as an MCP server (docs/mcp.md, "Toolgate as an MCP server").

Outside agents connect to ``/mcp`` (Streamable HTTP, stateless) with a personal API token;
they see the tools the token's owner may use and every call takes the chat's pipeline,
approval queue and audit. This package is glue: ``http`` (the ASGI endpoint and its
authentication), ``offer`` (which tools a token sees, and their annotations), ``server``
(the MCP handlers), ``waiting`` (a parked call's request held open until it is decided).
"""
