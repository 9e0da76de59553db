"""Signals approvals sends, so that the chat side can react without approvals knowing it.

``call_settled`` is sent (async, ``asend``) once a parked call has its final result —
run after approval, or closed as denied or expired — with ``tool_call_id``, ``run_id``,
``conversation_id``, ``decision`` and ``reason``. ``assistant`` resumes the run on it.
"""

from django.dispatch import Signal

call_settled = Signal()
