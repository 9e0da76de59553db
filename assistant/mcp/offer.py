"""Which tools an MCP token sees, and what Toolgate's own policy says about each.

A tool is presented as read-only (``readOnlyHint``) only when the tool says it has no side
effects *and* Toolgate would never park a call to it: no approval setting of *always*, no
rule that may require approval or deny, and not high risk (unless an administrator set
approval to *never*). A server's or author's claim alone never makes a gated tool look
harmless. A read-only token sees (and may call) exactly those tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approvals import policy
from approvals.models import PolicyRule, ToolPolicy
from assistant.models import ApiToken
from tools.catalog import acatalog
from tools.definition import Tool
from tools.exports import export
from tools.registry import registry


@dataclass(frozen=True)
class Offered:
    tool: Tool
    gated: bool  # a call may wait for approval (or be denied by a rule)

    @property
    def read_only(self) -> bool:
        return self.tool.read_only and not self.gated

    def as_mcp(self) -> dict[str, Any]:
        """The tool as MCP ``tools/list`` shows it (the schema Toolgate exports)."""
        schema = export(self.tool, "anthropic")["input_schema"]
        return {
            "name": self.tool.name, "description": self.tool.description, "inputSchema": schema,
            "annotations": {
                "readOnlyHint": self.read_only,
                "destructiveHint": not self.tool.read_only and str(self.tool.risk) == "high",
                "openWorldHint": True,
            },
            # 2025-11-25: any call may be made a task (call now, fetch the outcome later).
            "execution": {"taskSupport": "optional"},
            "_meta": {"toolgate/risk": str(self.tool.risk), "toolgate/needsApproval": self.gated},
        }


def gated(tool: Tool, snap: policy.Snapshot) -> bool:
    """Whether Toolgate's policy may park (or deny) some call to ``tool``."""
    pol = snap.policies.get(tool.name)
    if any(r.action != PolicyRule.Action.ALLOW for r in snap.rules.get(tool.name, [])):
        return True
    if pol is not None and pol.approval == ToolPolicy.Approval.ALWAYS:
        return True
    if pol is not None and pol.approval == ToolPolicy.Approval.NEVER:
        return False
    return str(tool.risk) == "high"


async def offered(token: ApiToken) -> list[Offered]:
    """The tools this token may list and call, in the registry's order."""
    usable = (await acatalog(token.user, registry)).tools
    snap = await policy.asnapshot()
    found = [Offered(t, gated(t, snap)) for t in usable if token.allows_tool(t.name)]
    return [o for o in found if o.read_only] if token.read_only else found


async def find(token: ApiToken, name: str) -> Offered | None:
    return next((o for o in await offered(token) if o.tool.name == name), None)
