"""Generate a tool's argument model and JSON Schema from a typed Python function.

The schema is never written by hand: it comes from the signature (types, defaults,
``Annotated[..., Field(...)]``) and the docstring (Google, NumPy or Sphinx style), so the
schema the model sees and the validation the pipeline applies can never drift apart.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic.fields import FieldInfo

from tools.context import ToolContext
from tools.errors import ToolDefinitionError


@dataclass(frozen=True)
class Docstring:
    description: str
    params: dict[str, str]


def parse_docstring(fn: Callable[..., Any]) -> Docstring:
    doc = inspect.getdoc(fn) or ""
    if not doc:
        return Docstring("", {})
    parsed = docstring_parser.parse(doc)
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    params = {p.arg_name: " ".join(p.description.split()) for p in parsed.params if p.description}
    return Docstring("\n\n".join(parts).strip(), params)


@dataclass(frozen=True)
class Signature:
    model: type[BaseModel]
    context_param: str | None
    field_names: tuple[str, ...]


def model_from_function(fn: Callable[..., Any], tool_name: str, doc: Docstring) -> Signature:
    """Build a pydantic model whose fields are the function's parameters."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for an unresolvable forward reference, etc.
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot resolve type hints: {exc}") from exc
    fields: dict[str, Any] = {}
    context_param = None
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {name!r} is *args/**kwargs; tools take named, "
                "typed parameters only"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {name!r} is positional-only; tools are called "
                "with keyword arguments"
            )
        if name not in hints:
            raise ToolDefinitionError(f"tool {tool_name!r}: parameter {name!r} has no type annotation")
        annotation = hints[name]
        if annotation is ToolContext:
            context_param = name
            continue
        check_supported(annotation, tool_name, name)
        default = ... if param.default is inspect.Parameter.empty else param.default
        description = doc.params.get(name)
        if typing.get_origin(annotation) is typing.Annotated and any(
            isinstance(m, FieldInfo) and m.description for m in typing.get_args(annotation)[1:]
        ):
            description = None  # Field(description=...) wins over the docstring
        if description:
            fields[name] = (annotation, Field(default, description=description))
        else:
            fields[name] = (annotation, default)
    model = create_model(  # type: ignore[call-overload]
        _model_name(tool_name),
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return Signature(model=model, context_param=context_param, field_names=tuple(fields))


def check_supported(annotation: Any, tool_name: str, param: str) -> None:
    """Fail at registration, naming the parameter, when a type has no JSON Schema."""
    try:
        TypeAdapter(annotation).json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError) as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: parameter {param!r} has an unsupported type "
            f"{_type_name(annotation)}; use str, int, float, bool, Literal, Enum, list, dict, "
            "Optional or a pydantic model"
        ) from exc


def json_schema(model: type[BaseModel], tool_name: str) -> dict[str, Any]:
    try:
        schema = model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError) as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot generate a JSON schema: {exc}") from exc
    return clean_schema(schema)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$defs`` (unless recursive) and drop pydantic's generated titles.

    Small open models follow flat schemas far better than ``$ref`` chains, and the titles
    only repeat the property names.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            if key in seen:
                raise ToolDefinitionError(f"recursive type {key!r} is not supported in tool arguments")
            merged = {**defs[key], **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, (*seen, key))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "$defs"):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: walk(sub, seen) for name, sub in value.items()}
            else:
                out[key] = walk(value, seen)
        return out

    cleaned = walk(schema, ())
    cleaned.setdefault("properties", {})
    cleaned["type"] = "object"
    return cleaned


def _model_name(tool_name: str) -> str:
    return "".join(part.capitalize() for part in tool_name.replace("-", "_").split("_")) + "Args"


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
