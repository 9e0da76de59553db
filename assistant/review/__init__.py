"""The chat's contributions to the approver's decision page (rendered without approvals
importing the chat app: ``approvals.review`` is handed a callable at start-up)."""
