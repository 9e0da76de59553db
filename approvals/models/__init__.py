"""Approvals' records: policies, the approval queue and the append-only audit log."""

from approvals.models.audit import AuditEvent, AuditHead
from approvals.models.policy import PolicyRule, ToolPolicy
from approvals.models.queue import ApprovalRequest

__all__ = ["ApprovalRequest", "AuditEvent", "AuditHead", "PolicyRule", "ToolPolicy"]
