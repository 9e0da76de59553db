"""Approvals' records: policies, the approval queue and the append-only audit log."""

from approvals.models.audit import AuditEvent, AuditHead
from approvals.models.notifications import NotificationDelivery
from approvals.models.policy import PolicyRule, ToolPolicy
from approvals.models.queue import ApprovalRequest
from approvals.models.scopes import ApprovalScope

__all__ = ["ApprovalRequest", "ApprovalScope", "AuditEvent", "AuditHead", "NotificationDelivery",
           "PolicyRule", "ToolPolicy"]
