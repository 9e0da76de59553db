"""Policy, the approval queue and the audit trail. May use ``tools``; never ``assistant``."""
