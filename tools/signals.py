"""Signals the tools app sends, so that approvals can audit without tools knowing it.

``config_changed`` is sent when an administrator creates, changes or deletes tool
configuration (an :class:`~tools.models.McpServer`) in the admin or with ``manage.py
mcp``, with ``actor`` (a username, or ``"command:mcp"``), ``instance``, ``action``
(``created``/``changed``/``deleted``) and ``changes`` (field → ``[old, new]``).
approvals records it like a policy change.
"""

from django.dispatch import Signal

config_changed = Signal()
