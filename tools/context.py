"""What a tool may know about the call it is serving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolContext:
    """Passed to a tool that declares a parameter annotated ``ToolContext``.

    The parameter never appears in the JSON schema: the model cannot forge who is calling.
    ``scope`` carries opaque ids from the caller (a run, a conversation) for logging; the
    tools app does not interpret it.
    """

    user: Any = None
    call_id: str = ""
    scope: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)
