"""Turn the model's argument string into validated Python values, or a structured error.

Nothing is coerced: ``"5"`` is not an integer and ``"true"`` is not a boolean. The one
liberty taken is documented in docs/tools.md: in OpenAI strict mode every argument must be
sent, so ``null`` for an optional argument (at any depth) that is not itself nullable means
"use the default" (:mod:`tools.arguments`). Every error names its argument in one dotted form
(``options.issuer``, ``items.0.qty``), whichever kind of tool it is.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from pydantic import BaseModel, ValidationError

from tools import metaschema
from tools.arguments import Problem, join, normalise
from tools.dbfields import has_unstorable, storable
from tools.errors import ErrorType, ToolError
from tools.schema import clean_schema

_MAX_GOT_CHARS = 200
RawArguments = str | dict[str, Any] | None


class ValidationFailure(Exception):
    def __init__(self, error: ToolError) -> None:
        super().__init__(error.message)
        self.error = error


def parse_arguments(raw: RawArguments) -> dict[str, Any]:
    """The arguments as a dict. An empty string means no arguments (several servers send it)."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise ValidationFailure(ToolError(
            ErrorType.INVALID_JSON,
            f"arguments must be a JSON object encoded as a string, got {type(raw).__name__}",
        ))
    if not raw.strip():
        return {}
    try:
        data = pydantic_core.from_json(raw)
    except ValueError as exc:
        raise ValidationFailure(ToolError(
            ErrorType.INVALID_JSON,
            f"arguments are not valid JSON: {exc}",
            hint="Send the arguments as one JSON object, e.g. {\"name\": \"value\"}.",
            extra={"got": _clip(raw)},
        )) from None
    if not isinstance(data, dict):
        raise ValidationFailure(ToolError(
            ErrorType.INVALID_JSON,
            f"arguments must be a JSON object, got {_json_type(data)}",
            hint="Wrap the arguments in an object keyed by parameter name.",
            extra={"got": _clip(raw)},
        ))
    return data


class ModelValidator:
    """Validates against a pydantic model generated from (or given for) the tool.

    ``schema`` is the tool's JSON Schema (generated from the model when not given): the
    closed-object and null rules of :mod:`tools.arguments` are applied with it first, so
    nested models refuse unknown keys and take their defaults for ``null`` exactly like
    raw definitions do.
    """

    def __init__(self, model: type[BaseModel], *, pass_model_as: str | None = None,
                 schema: dict[str, Any] | None = None) -> None:
        self.model = model
        self.pass_model_as = pass_model_as
        self.field_names = tuple(model.model_fields)
        self.schema = schema if schema is not None else clean_schema(model.model_json_schema())

    def validate(self, tool_name: str, raw: RawArguments) -> tuple[dict[str, Any], dict[str, Any]]:
        data = parse_arguments(raw)
        refuse_unstorable(tool_name, data, self.field_names)
        stripped, problems = normalise(data, self.schema)
        # Validate the model's own text when nothing was dropped: no re-encoding on the hot path.
        text = raw if stripped is data and isinstance(raw, str) and raw.strip() else json.dumps(stripped)
        try:
            instance = self.model.model_validate_json(text, strict=True)
        except ValidationError as exc:
            details = _pydantic_details(exc) + _problem_details(problems)
            raise ValidationFailure(validation_error(tool_name, details, self.field_names)) from None
        if problems:
            raise ValidationFailure(validation_error(tool_name, _problem_details(problems), self.field_names))
        if self.pass_model_as:
            kwargs: dict[str, Any] = {self.pass_model_as: instance}
        else:
            kwargs = {name: getattr(instance, name) for name in self.field_names}
        return kwargs, instance.model_dump(mode="json")


class JsonSchemaValidator:
    """Validates against a hand-written JSON Schema (tools registered from raw definitions).

    The schema is checked against its metaschema and compiled once, here (``jsonschema_rs``);
    a schema that is not valid raises :class:`~tools.errors.ToolDefinitionError`.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = metaschema.check(schema)
        self.field_names = tuple(schema.get("properties", {}))

    def validate(self, tool_name: str, raw: RawArguments) -> tuple[dict[str, Any], dict[str, Any]]:
        data = parse_arguments(raw)
        refuse_unstorable(tool_name, data, self.field_names)
        data, problems = normalise(data, self.schema)
        details = _problem_details(problems)
        for err in self._validator.iter_errors(data):
            details.extend(_schema_details(err))
        if details:
            details.sort(key=lambda d: d["path"])
            raise ValidationFailure(validation_error(tool_name, details, self.field_names))
        return dict(data), dict(data)


_UNSTORABLE_PROBLEM = ("contains a NUL character (U+0000) or an unpaired surrogate, which arguments "
                       "may not hold (send binary data encoded, e.g. as base64)")


def refuse_unstorable(tool_name: str, data: dict[str, Any], accepted: tuple[str, ...]) -> None:
    """Refuse arguments holding a character no database column can keep (tools.dbfields).

    Refused rather than replaced, so that the arguments a tool runs with are exactly the
    arguments recorded and audited."""
    details: list[dict[str, Any]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            if has_unstorable(value):
                details.append({"path": path, "problem": _UNSTORABLE_PROBLEM, "got": _clip(storable(value))})
        elif isinstance(value, dict):
            for key, item in value.items():
                name = storable(str(key))
                if has_unstorable(str(key)):
                    details.append({"path": join(path, name), "problem": _UNSTORABLE_PROBLEM, "got": name})
                walk(item, join(path, name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, join(path, index))

    walk(data, "")
    if details:
        raise ValidationFailure(validation_error(tool_name, details, accepted))


def _problem_details(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"path": p.path, "problem": p.problem, "got": _clip(p.got)} for p in problems]


_TYPE_WORDS = {"integer": "a valid integer", "number": "a valid number", "string": "a valid string",
               "boolean": "a valid boolean", "array": "a valid array", "object": "a valid object",
               "null": "null"}
_LIMITS = {"Minimum": ">=", "Maximum": "<=", "ExclusiveMinimum": ">", "ExclusiveMaximum": "<"}


def _schema_details(err: Any) -> list[dict[str, Any]]:
    """One error of ``jsonschema_rs`` as details in the pydantic validator's words."""
    path = ".".join(str(p) for p in err.instance_path)
    kind = err.kind
    name = type(kind).__name__
    if name == "Required":
        return [{"path": join(path, kind.property), "problem": "is required"}]
    if name in ("AdditionalProperties", "UnevaluatedProperties"):
        keys = getattr(kind, "unexpected", None) or []
        instance = err.instance if isinstance(err.instance, dict) else {}
        found = [{"path": join(path, key), "problem": "is not an accepted argument",
                  "got": _clip(instance.get(key))} for key in keys]
        return found or [{"path": path, "problem": str(err.message), "got": _clip(err.instance)}]
    if name == "Type":
        types = [str(t) for t in (getattr(kind, "types", None) or [])]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        problem = f"must be {words}" if types else str(err.message)
    elif name == "Enum":
        options = getattr(kind, "options", None) or []
        problem = "must be one of " + ", ".join(json.dumps(o) for o in options)
    elif name == "Constant":
        problem = f"must be {json.dumps(getattr(kind, 'expected_value', None))}"
    elif name in _LIMITS:
        problem = f"must be {_LIMITS[name]} {getattr(kind, 'limit', '?')}"
    else:
        problem = str(err.message)
    return [{"path": path, "problem": problem, "got": _clip(err.instance)}]


def validation_error(tool_name: str, details: list[dict[str, Any]], accepted: tuple[str, ...]) -> ToolError:
    paths = ", ".join(d["path"] or "(arguments)" for d in details)
    return ToolError(
        ErrorType.VALIDATION_ERROR,
        f"invalid arguments for {tool_name}: {paths}",
        details=details,
        hint=(
            f"Fix the listed arguments and call {tool_name} again. Accepted arguments: "
            f"{', '.join(accepted) or '(none)'}."
        ),
    )


def _pydantic_details(exc: ValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False):
        detail: dict[str, Any] = {
            "path": ".".join(str(p) for p in err["loc"]),
            "problem": _problem(err),
        }
        if err["type"] != "missing":
            detail["got"] = _clip(err.get("input"))
        details.append(detail)
    return details


_BOUNDS = {
    "greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"), "less_than": ("<", "lt"),
}


def _problem(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not an accepted argument"
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"must be {op} {ctx.get(key)}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}"
    message = str(err["msg"])
    for prefix, replacement in (("Input should be", "must be"), ("Input should have", "must have"),
                                ("Value error, ", ""), ("Assertion failed, ", "")):
        if message.startswith(prefix):
            message = replacement + message[len(prefix):]
    return message


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_GOT_CHARS:
        return value[:_MAX_GOT_CHARS] + "…"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        if len(text) > _MAX_GOT_CHARS:
            return text[:_MAX_GOT_CHARS] + "…"
    return value
