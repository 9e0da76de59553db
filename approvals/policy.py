"""The gate the tool pipeline consults before a call runs.

Until the approval queue exists every call is decided by the tool's risk level alone: this
is the seam ``TOOLS_GATE`` points at, so the pipeline never needs to know about approvals.
"""

from __future__ import annotations

from tools.gate import GateDecision, PreparedCall


async def gate(call: PreparedCall) -> GateDecision:
    return GateDecision.allow(rule="default")
