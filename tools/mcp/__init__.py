"""MCP servers as a tool source: their tools go through the same pipeline as the built-ins.

``spec`` turns a configured :class:`~tools.models.McpServer` into plain connection data;
``catalog`` turns a server's tool list into registered :class:`~tools.Tool` objects
(names, schemas, risk from untrusted hints); ``connection`` holds one server's session;
``manager`` runs every session of this process on one event-loop thread; ``source``
plugs the manager into the registry. Nothing here knows of chat or approvals, so the
MCP *server* side (exposing Toolgate's governed tools) can be built on the same pieces.
"""
