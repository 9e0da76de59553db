"""What to extract: a schema from a Pydantic model, a typed function or a raw JSON Schema.

The same generation and validation as tools (tools/schema.py, tools/validation.py), so a
type that works as a tool argument works here and the model is held to exactly the schema
it was shown. Schemas can be registered by name (``EXTRACTION_SCHEMAS``: ``module:attr`` or
``name=module:attr`` entries, attr a model, a function or a dict) so API clients need not
send them.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict

from tools.errors import ToolDefinitionError
from tools.exports import strict_compatible, strict_schema
from tools.schema import json_schema, model_from_function, parse_docstring
from tools.validation import JsonSchemaValidator, ModelValidator, ValidationFailure

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_SCHEMA_BYTES = 64 * 1024


class SchemaError(ValueError):
    """The schema cannot be used; the message says why (shown to API callers as a 422)."""


@dataclass(frozen=True)
class ExtractionSchema:
    """A usable schema: its JSON Schema, how to validate against it, and how to name it."""

    name: str
    description: str
    schema: dict[str, Any]
    validator: ModelValidator | JsonSchemaValidator
    model: type[BaseModel] | None = None  # set for Pydantic models: results are also instances
    registered: bool = False  # known by name (EXTRACTION_SCHEMAS), not sent inline

    @property
    def strict_ok(self) -> bool:
        """Whether OpenAI strict mode can express it (closed objects only)."""
        try:
            return strict_compatible(self.schema)
        except Exception:  # a valid but unusual schema (boolean subschemas, tuple items ...)
            return False

    def strict(self) -> dict[str, Any]:
        return strict_schema(self.schema, self.name)

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON Schema: the same schema always has the same digest."""
        canonical = json.dumps(self.schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def validate(self, raw: str | dict[str, Any]) -> dict[str, Any]:
        """The validated data (JSON-ready); raises ``ValidationFailure`` with the details."""
        return self.validator.validate(self.name, raw)[1]

    def instance(self, data: dict[str, Any]) -> Any:
        return self.model.model_validate(data) if self.model is not None else data


def from_model(model: type[BaseModel], name: str | None = None) -> ExtractionSchema:
    name = name or _snake(model.__name__)
    config = {**model.model_config, "extra": "forbid"}
    closed = type(model.__name__, (model,), {"model_config": ConfigDict(**config)})  # type: ignore[misc]
    try:
        schema = json_schema(closed, name)
    except ToolDefinitionError as exc:
        raise SchemaError(str(exc)) from None
    return ExtractionSchema(_checked_name(name), inspect.getdoc(model) or "", schema, ModelValidator(closed),
                            model=model)


def from_function(fn: Callable[..., Any], name: str | None = None) -> ExtractionSchema:
    name = name or getattr(fn, "__name__", "data")
    doc = parse_docstring(fn)
    try:
        signature = model_from_function(fn, name, doc)
        schema = json_schema(signature.model, name)
    except ToolDefinitionError as exc:
        raise SchemaError(str(exc)) from None
    return ExtractionSchema(_checked_name(name), doc.description, schema, ModelValidator(signature.model))


def from_json_schema(schema: Any, name: str | None = None, description: str = "", *,
                     untrusted: bool = False) -> ExtractionSchema:
    """A raw JSON Schema; its top level must be an object with properties.

    ``untrusted`` (a schema sent with an API request) refuses regular expressions: they
    are run by Python's backtracking ``re`` on the model's output, and a crafted one could
    stall a worker for minutes. Registered schemas (and Pydantic's, checked by its linear
    Rust engine) may use them.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"the schema must be a JSON object, got {type(schema).__name__}")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise SchemaError(f"the schema is larger than {MAX_SCHEMA_BYTES // 1024} KiB")
    if untrusted and _has_pattern(schema):
        raise SchemaError("a schema sent with the request may not use pattern or patternProperties "
                          "(regular expressions could stall the server); register it by name instead")
    if schema.get("type") != "object":
        raise SchemaError('the schema\'s top level must be {"type": "object", "properties": {...}}')
    try:
        validator = JsonSchemaValidator(schema)
    except ToolDefinitionError as exc:  # the metaschema check names the dotted path
        raise SchemaError(f"not a valid JSON Schema: {exc}") from None
    except Exception as exc:  # a $ref that cannot resolve, a pattern that is not a regex ...
        raise SchemaError(f"not a usable JSON Schema: {exc}") from None
    name = name or str(schema.get("title") or "data")
    description = description or str(schema.get("description") or "")
    return ExtractionSchema(_checked_name(name), description, schema, validator)


def as_schema(spec: Any, name: str | None = None) -> ExtractionSchema:
    """Whatever the caller has: an ExtractionSchema, a model class, a function or a dict."""
    if isinstance(spec, ExtractionSchema):
        return spec
    if isinstance(spec, type) and issubclass(spec, BaseModel):
        return from_model(spec, name)
    if isinstance(spec, dict):
        return from_json_schema(spec, name)
    if callable(spec):
        return from_function(spec, name)
    raise SchemaError(f"cannot extract into {spec!r}: give a Pydantic model, a typed function "
                      "or a JSON Schema")


# --- the registry -----------------------------------------------------------------------------


def load(path: str) -> ExtractionSchema:
    """``module:attr`` or ``name=module:attr``, as in EXTRACTION_SCHEMAS and ``--schema``."""
    name, _, target = path.rpartition("=")
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SchemaError(f"{path!r} is not of the form module:attr (or name=module:attr)")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise SchemaError(f"cannot import {target!r}: {exc}") from None
    schema = as_schema(value, name or None)
    return ExtractionSchema(schema.name, schema.description, schema.schema, schema.validator,
                            model=schema.model, registered=True)


def registered() -> dict[str, ExtractionSchema]:
    """Every schema named in EXTRACTION_SCHEMAS, by name; a bad entry stops with its reason."""
    return _registered(tuple(settings.EXTRACTION_SCHEMAS))


@cache
def _registered(paths: tuple[str, ...]) -> dict[str, ExtractionSchema]:
    found: dict[str, ExtractionSchema] = {}
    for path in paths:
        try:
            schema = load(path)
        except SchemaError as exc:
            raise ImproperlyConfigured(f"EXTRACTION_SCHEMAS: {exc}") from None
        if schema.name in found:
            raise ImproperlyConfigured(f"EXTRACTION_SCHEMAS: two schemas are named {schema.name!r}")
        found[schema.name] = schema
    return found


def by_name(name: str) -> ExtractionSchema:
    schemas = registered()
    if name not in schemas:
        known = ", ".join(sorted(schemas)) or "none"
        raise SchemaError(f"there is no registered schema named {name!r} (registered: {known})")
    return schemas[name]


def _has_pattern(node: Any) -> bool:
    if isinstance(node, list):
        return any(_has_pattern(item) for item in node)
    if not isinstance(node, dict):
        return False
    if isinstance(node.get("pattern"), str) or isinstance(node.get("patternProperties"), dict):
        return True
    return any(_has_pattern(value) for value in node.values())


def _checked_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise SchemaError(f"schema name {name!r} is invalid: it must match ^[a-zA-Z0-9_-]{{1,64}}$")
    return name


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


__all__ = ["ExtractionSchema", "SchemaError", "ValidationFailure", "as_schema", "by_name", "from_function",
           "from_json_schema", "from_model", "load", "registered"]
