"""Errors raised while defining tools, and the structured errors a model sees.

A model can only correct itself if the error tells it what was wrong, where, and what it
sent, so every failure of a call becomes a :class:`ToolError` with a stable ``type``, and
its :meth:`ToolError.as_result` is exactly what goes back to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ToolDefinitionError(ValueError):
    """A tool cannot be registered; the message names the tool and the problem."""


class ErrorType(StrEnum):
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_JSON = "invalid_json"
    VALIDATION_ERROR = "validation_error"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    EXECUTION_ERROR = "execution_error"
    APPROVAL_REQUIRED = "approval_required"
    DENIED = "denied"


@dataclass
class ToolError:
    type: ErrorType
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(self.type), "message": self.message}
        if self.details:
            body["details"] = self.details
        if self.hint:
            body["hint"] = self.hint
        body.update(self.extra)
        return body

    def as_result(self) -> dict[str, Any]:
        return {"error": self.as_dict()}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> ToolError:
        known = {"type", "message", "details", "hint"}
        return cls(
            type=ErrorType(body["type"]),
            message=body["message"],
            details=list(body.get("details") or []),
            hint=body.get("hint"),
            extra={k: v for k, v in body.items() if k not in known},
        )


class ArgumentError(Exception):
    """Raised by a tool body when an argument is well-typed but unusable.

    The pipeline reports it as a ``validation_error`` (not an execution failure), so the
    model knows that changing the argument will help. Example: an unknown time zone.
    """

    def __init__(self, message: str, *, path: str | None = None, got: Any = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.got = got
        self.hint = hint


class TransientToolError(Exception):
    """A failure worth retrying (a dropped connection, a busy upstream).

    Retries are decided by exception type, never by the text of a message: a tool opts in
    by raising this (or by listing its own exception types in its :class:`Retry` policy).
    """


class ToolTimeout(Exception):
    """A tool did not finish within its timeout."""


class ToolReportedError(Exception):
    """A tool ran and reported a failure of its own (an MCP result with ``isError``): the
    pipeline gives the model ``error`` as it is, instead of describing an exception."""

    def __init__(self, error: ToolError) -> None:
        super().__init__(error.message)
        self.error = error
