"""What a tool is: a callable, its generated schema, and the metadata the pipeline obeys.

``@tool`` turns a typed function into a :class:`Tool`; it registers nothing by itself
(registration is the registry's job), so a tool can be imported and unit-tested as the
plain function it wraps.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from tools.context import ToolContext
from tools.errors import ToolDefinitionError, ToolTimeout, TransientToolError
from tools.exports import strict_schema
from tools.schema import Docstring, json_schema, model_from_function, parse_docstring
from tools.validation import JsonSchemaValidator, ModelValidator

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Retry:
    """Retry policy for transient failures: exponential backoff with full jitter.

    Only exceptions of the listed types are retried; by default that is
    :class:`TransientToolError` and ``ConnectionError``. A timeout is retried only when
    :class:`ToolTimeout` is listed, because a slow tool may still have had its effect.
    """

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    on: tuple[type[BaseException], ...] = (TransientToolError, ConnectionError)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts must be >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311

    def retries(self, exc: BaseException) -> bool:
        return isinstance(exc, self.on)


NO_RETRY = Retry(attempts=1)

Precheck = Callable[[dict[str, Any], ToolContext], Any]
"""A tool's cheap pre-check: given the validated keyword arguments (what the tool would
receive, without its ``ToolContext``) and the caller's context, it raises what the tool
itself would raise for a call it is bound to refuse — :class:`~tools.errors.ArgumentError`
for an unusable argument — and returns ``None`` (or an awaitable of it) otherwise. It runs
right after validation, before the rate limit and the gate, so such a call fails at once
and never waits for an approver. It must not change anything: it also runs for calls that
are then denied or parked."""
RETRY_TIMEOUTS = (*Retry().on, ToolTimeout)

_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateLimit:
    """``count`` calls per ``seconds`` for one user and one tool, e.g. ``"10/m"``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str | RateLimit | None, tool_name: str = "?") -> RateLimit | None:
        if spec is None or isinstance(spec, RateLimit):
            return spec
        pattern = r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*"
        match = re.fullmatch(pattern, spec) if isinstance(spec, str) else None
        if not match or int(match[1]) < 1 or (match[2] and int(match[2]) < 1):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: rate limit {spec!r} is not of the form COUNT/PERIOD, "
                "e.g. '10/m', '100/h' or '5/30s'"
            )
        return cls(int(match[1]), int(match[2] or 1) * _RATE_UNITS[match[3]])

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


@dataclass(eq=False)
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any]
    validator: ModelValidator | JsonSchemaValidator
    context_param: str | None = None
    risk: Risk = Risk.LOW
    read_only: bool = False
    # Safe to run again with the same arguments: a call cut off by a crashed process is run
    # once more instead of being reported as interrupted (docs/engine.md). A read-only tool
    # is idempotent unless it says otherwise.
    idempotent: bool | None = None
    timeout: float | None = None
    retry: Retry = NO_RETRY
    cache_ttl: int = 0
    rate_limit: RateLimit | None = None
    max_concurrency: int | None = None
    fallback: str | None = None
    permission: str | None = None
    strict: bool | None = None
    precheck: Precheck | None = None
    # A tool source's own check on who may use the tool (an MCP server's allowed groups):
    # ``access(user) -> bool`` and ``await access.acall(user)``; policies may narrow it further.
    access: Any = None
    is_async: bool = field(init=False)
    # Provider exports, built on first use (tools.exports); a Tool's schema never changes.
    exports: dict[tuple[str, bool | None], dict[str, Any]] = field(
        init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise ToolDefinitionError(
                f"tool name {self.name!r} is invalid: it must match ^[a-zA-Z0-9_-]{{1,64}}$"
            )
        if not self.description or not self.description.strip():
            raise ToolDefinitionError(
                f"tool {self.name!r} has no description: add a docstring or pass description="
            )
        try:
            self.risk = Risk(self.risk)
        except ValueError:
            raise ToolDefinitionError(
                f"tool {self.name!r}: risk must be one of low, medium, high; got {self.risk!r}"
            ) from None
        if self.timeout is not None and self.timeout <= 0:
            raise ToolDefinitionError(f"tool {self.name!r}: timeout must be > 0, got {self.timeout}")
        if self.cache_ttl < 0:
            raise ToolDefinitionError(f"tool {self.name!r}: cache_ttl must be >= 0")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ToolDefinitionError(f"tool {self.name!r}: max_concurrency must be >= 1")
        if self.fallback == self.name:
            raise ToolDefinitionError(f"tool {self.name!r} cannot be its own fallback")
        if not isinstance(self.retry, Retry):
            raise ToolDefinitionError(
                f"tool {self.name!r}: retry must be a Retry(...) policy, got {self.retry!r}"
            )
        if self.precheck is not None and not callable(self.precheck):
            raise ToolDefinitionError(
                f"tool {self.name!r}: precheck must be a function (arguments, ctx) -> None, "
                f"got {self.precheck!r}"
            )
        self.rate_limit = RateLimit.parse(self.rate_limit, self.name)
        if self.idempotent is None:
            self.idempotent = bool(self.read_only)
        if self.strict:
            strict_schema(self.parameters, self.name)  # strict=True must be exportable: fail now
        self.is_async = inspect.iscoroutinefunction(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name} risk={self.risk}>"

    def validate(self, raw: str | dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Python keyword arguments and their JSON form; raises ``ValidationFailure``."""
        return self.validator.validate(self.name, raw)

    def is_allowed_for(self, user: Any) -> bool:
        """The tool's own permission check; policies may narrow it further."""
        if self.access is not None and not self.access(user):
            return False
        if self.permission is None:
            return True
        return bool(user is not None and user.has_perm(self.permission))

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        params: type[BaseModel] | None = None,
        **meta: Any,
    ) -> Tool:
        tool_name = name if name is not None else getattr(fn, "__name__", "")
        doc = parse_docstring(fn)
        if params is not None:
            pass_as, context_param, model = _model_params(fn, tool_name, params)
        else:
            signature = model_from_function(fn, tool_name, doc)
            model, context_param, pass_as = signature.model, signature.context_param, None
        parameters = json_schema(model, tool_name)
        validator = ModelValidator(model, pass_model_as=pass_as, schema=parameters)
        desc = description or doc.description or (inspect.getdoc(params) if params else "") or ""
        return cls(
            name=tool_name,
            description=desc,
            fn=fn,
            parameters=parameters,
            validator=validator,
            context_param=context_param,
            **meta,
        )

    @classmethod
    def from_definition(cls, definition: dict[str, Any], fn: Callable[..., Any], **meta: Any) -> Tool:
        """A tool from a raw OpenAI or Anthropic tool definition plus a callable.

        Accepted shapes: OpenAI Chat ``{"type": "function", "function": {name, description,
        parameters}}``, OpenAI Responses ``{"type": "function", name, description,
        parameters}`` and Anthropic ``{name, description, input_schema}``. The callable
        receives the validated arguments as keyword arguments.
        """
        body = definition.get("function", definition) if isinstance(definition, dict) else None
        if not isinstance(body, dict):
            raise ToolDefinitionError(f"a tool definition must be a JSON object, got {definition!r}")
        name = body.get("name")
        schema = body.get("parameters", body.get("input_schema"))
        if schema is None:
            raise ToolDefinitionError(
                f"tool {name!r}: definition has neither 'parameters' (OpenAI) nor "
                "'input_schema' (Anthropic)"
            )
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise ToolDefinitionError(f"tool {name!r}: the parameters schema must have type 'object'")
        try:
            validator = JsonSchemaValidator(schema)
        except ToolDefinitionError as exc:
            raise ToolDefinitionError(f"tool {name!r}: {exc}") from None
        meta.setdefault("strict", body.get("strict"))
        return cls(
            name=name,
            description=body.get("description") or "",
            fn=fn,
            parameters=schema,
            validator=validator,
            context_param=_context_param(fn),
            **meta,
        )


def tool(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a :class:`Tool` from a typed function: ``@tool`` or ``@tool(risk="high", ...)``.

    Options: ``name``, ``description``, ``params`` (a pydantic model to use instead of the
    signature), ``risk``, ``read_only``, ``idempotent`` (safe to run again after a crash;
    defaults to ``read_only``), ``timeout``, ``retry``, ``cache_ttl``,
    ``rate_limit``, ``max_concurrency``, ``fallback``, ``permission``, ``strict``,
    ``precheck`` (see :data:`Precheck`).
    """
    if fn is not None:
        return Tool.from_function(fn, **options)
    return lambda f: Tool.from_function(f, **options)


def _model_params(
    fn: Callable[..., Any], tool_name: str, params: type[BaseModel]
) -> tuple[str, str | None, type[BaseModel]]:
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise ToolDefinitionError(f"tool {tool_name!r}: params must be a pydantic model class")
    context_param = _context_param(fn)
    others = [p for p in inspect.signature(fn).parameters if p != context_param]
    if len(others) != 1:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: with params={params.__name__}, the function must take exactly "
            f"one argument (the validated model) besides an optional ToolContext; it takes {others}"
        )
    config = {**params.model_config, "extra": "forbid"}
    strict_model = type(params.__name__, (params,), {"model_config": config})
    return others[0], context_param, strict_model


def _context_param(fn: Callable[..., Any]) -> str | None:
    if inspect.isfunction(fn):  # the annotations alone: a signature costs ~50 µs a definition
        return next((name for name, annotation in fn.__annotations__.items()
                     if name != "return" and annotation in (ToolContext, "ToolContext")), None)
    for name, param in inspect.signature(fn).parameters.items():
        if param.annotation in (ToolContext, "ToolContext"):
            return name
    return None


__all__ = ["NO_RETRY", "RETRY_TIMEOUTS", "Docstring", "Precheck", "RateLimit", "Retry", "Risk", "Tool",
           "tool"]
