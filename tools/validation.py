"""Turn the model's argument string into validated Python values, or a structured error.

Nothing is coerced: ``"5"`` is not an integer and ``"true"`` is not a boolean. The one
liberty taken is documented in docs/tools.md: in OpenAI strict mode every argument must be
sent, so ``null`` for an optional argument that is not itself nullable means "use the
default".
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pydantic_core
from pydantic import BaseModel, ValidationError

from tools.errors import ErrorType, ToolError

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
    """Validates against a pydantic model generated from (or given for) the tool."""

    def __init__(self, model: type[BaseModel], *, pass_model_as: str | None = None) -> None:
        self.model = model
        self.pass_model_as = pass_model_as
        self.field_names = tuple(model.model_fields)
        self._null_means_default = {
            name for name, info in model.model_fields.items()
            if not info.is_required() and info.default is not None and not _accepts_none(info)
        }

    def validate(self, tool_name: str, raw: RawArguments) -> tuple[dict[str, Any], dict[str, Any]]:
        data = parse_arguments(raw)
        stripped = _drop_null_defaults(data, self._null_means_default)
        # Validate the model's own text when nothing was dropped: no re-encoding on the hot path.
        text = raw if stripped is data and isinstance(raw, str) and raw.strip() else json.dumps(stripped)
        try:
            instance = self.model.model_validate_json(text, strict=True)
        except ValidationError as exc:
            details = _pydantic_details(exc)
            raise ValidationFailure(validation_error(tool_name, details, self.field_names)) from None
        if self.pass_model_as:
            kwargs: dict[str, Any] = {self.pass_model_as: instance}
        else:
            kwargs = {name: getattr(instance, name) for name in self.field_names}
        return kwargs, instance.model_dump(mode="json")


class JsonSchemaValidator:
    """Validates against a hand-written JSON Schema (tools registered from raw definitions)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        jsonschema.Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = jsonschema.Draft202012Validator(schema)
        self.field_names = tuple(schema.get("properties", {}))
        required = set(schema.get("required", []))
        self._null_means_default = {
            name for name, sub in schema.get("properties", {}).items()
            if name not in required and not self._validator.evolve(schema=sub).is_valid(None)
        }

    def validate(self, tool_name: str, raw: RawArguments) -> tuple[dict[str, Any], dict[str, Any]]:
        data = _drop_null_defaults(parse_arguments(raw), self._null_means_default)
        errors = sorted(self._validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            details = []
            for err in errors:
                detail = {"path": ".".join(str(p) for p in err.absolute_path) or _missing_key(err),
                          "problem": err.message}
                if err.validator != "required":
                    detail["got"] = _clip(err.instance)
                details.append(detail)
            raise ValidationFailure(validation_error(tool_name, details, self.field_names))
        return dict(data), dict(data)


def _drop_null_defaults(data: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """OpenAI strict mode makes every argument required, optional ones nullable; so a ``null``
    for a top-level optional argument that does not itself accept ``null`` means "use the
    default". Returns ``data`` itself when there is nothing to drop."""
    if not any(data.get(name, 0) is None for name in names):
        return data
    return {k: v for k, v in data.items() if not (v is None and k in names)}


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


def _accepts_none(info: Any) -> bool:
    try:
        from pydantic import TypeAdapter
        TypeAdapter(info.annotation).validate_python(None)
    except Exception:
        return False
    return True


def _missing_key(err: jsonschema.ValidationError) -> str:
    if err.validator == "required" and isinstance(err.message, str) and err.message.startswith("'"):
        return err.message.split("'")[1]
    return ""


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
