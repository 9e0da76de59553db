"""``/api/v1/extract``: validated data pulled out of a text by a model (assistant/extraction).

The schema is one registered by name (``schema_name``; ``GET /extract/schemas`` lists them)
or sent inline as a JSON Schema (``inline_schema``). The view parses, authorises and maps the
service's outcomes to statuses; the service records every call and counts its tokens
against the caller's daily budget, like chat.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema

from assistant.api.auth import caller
from assistant.api.errors import ApiError, responses
from assistant.extraction import schemas as extraction_schemas
from assistant.extraction.models import Extraction
from assistant.extraction.service import (
    ExtractionInvalid,
    ExtractionProviderError,
    ExtractionRefused,
    aextract,
)
from assistant.ops import budgets
from assistant.providers.profiles import UnknownProfile, get_profile

router = Router(tags=["extraction"])


class ExtractIn(Schema):
    text: str = Field(min_length=1, description="The text to extract from.")
    schema_name: str | None = Field(None, max_length=64,
                                    description="A registered schema (GET /api/v1/extract/schemas).")
    inline_schema: dict[str, Any] | None = Field(
        None, description='A JSON Schema sent with the request; its top level is {"type": "object", ...}.')
    name: str | None = Field(None, max_length=64, description="A name for the inline schema.")
    profile: str | None = Field(None, max_length=64,
                                description="The model profile; default: the default one.")
    instructions: str | None = Field(None, max_length=2000, description="Extra instructions for the model.")
    max_corrections: int | None = Field(None, ge=0, le=5,
                                        description="Corrections after an invalid answer "
                                                    "(default: EXTRACTION_MAX_CORRECTIONS).")


class SchemaRef(Schema):
    name: str
    hash: str = Field(description="sha256 of the canonical JSON Schema.")
    registered: bool


class ExtractUsage(Schema):
    input_tokens: int
    output_tokens: int


class ExtractOut(Schema):
    id: UUID = Field(description="The extraction's record (admin: Extraction).")
    status: str
    data: dict[str, Any] = Field(description="The extracted data, valid against the schema.")
    schema_used: SchemaRef = Field(description="The schema the data was validated against.")
    profile: str
    model: str
    mode: str = Field(description="How JSON was asked for: json_schema_strict, json_object, tool or prompt.")
    attempts: int
    usage: ExtractUsage
    notice: str | None = Field(None, description="Set when no language model answered (the offline demo).")


class SchemaOut(Schema):
    name: str
    description: str
    definition: dict[str, Any] = Field(description="The JSON Schema.")


class SchemaList(Schema):
    items: list[SchemaOut]


@router.get("/extract/schemas", response={200: SchemaList, **responses(401)},
            summary="The schemas registered by name (EXTRACTION_SCHEMAS)")
async def list_schemas(request: HttpRequest) -> Any:
    return {"items": [{"name": s.name, "description": s.description, "definition": s.schema}
                      for s in extraction_schemas.registered().values()]}


@router.post("/extract", response={200: ExtractOut, **responses(400, 401, 403, 422, 429, 502)},
             summary="Extract validated data from a text")
async def extract(request: HttpRequest, data: ExtractIn) -> Any:
    limit = settings.EXTRACTION_MAX_TEXT_CHARS
    if len(data.text) > limit:
        raise ApiError(422, "text_too_long", f"The text may be at most {limit} characters.",
                       {"limit": limit, "length": len(data.text)})
    if (data.schema_name is None) == (data.inline_schema is None):
        raise ApiError(422, "schema_required",
                       "Give exactly one of schema_name (a registered schema) or inline_schema "
                       "(a JSON Schema).")
    try:
        if data.schema_name is not None:
            schema = extraction_schemas.by_name(data.schema_name)
        else:
            schema = extraction_schemas.from_json_schema(data.inline_schema, data.name, untrusted=True)
    except extraction_schemas.SchemaError as exc:
        code = "unknown_schema" if data.schema_name is not None else "invalid_schema"
        raise ApiError(422, code, f"The schema cannot be used: {exc}.") from None
    try:
        profile = get_profile(data.profile)
    except UnknownProfile as exc:
        raise ApiError(422, "unknown_profile", exc.user_message) from None
    try:
        result = await aextract(schema, data.text, profile=profile, user=caller(request),
                                instructions=data.instructions, max_corrections=data.max_corrections,
                                source=Extraction.Source.API)
    except budgets.BudgetExceeded as exc:
        raise ApiError(429, "budget_exceeded", exc.message, {"used": exc.used, "limit": exc.limit}) from None
    except ExtractionInvalid as exc:
        raise ApiError(422, exc.code, exc.message, {
            "extraction_id": str(exc.extraction.pk) if exc.extraction else None,
            "last_output": exc.last_output, "errors": exc.errors,
            "attempts": exc.extraction.attempts if exc.extraction else None}) from None
    except ExtractionRefused as exc:
        raise ApiError(422, exc.code, exc.message, {
            "extraction_id": str(exc.extraction.pk) if exc.extraction else None,
            "refusal": exc.refusal}) from None
    except ExtractionProviderError as exc:
        raise ApiError(502, exc.code, exc.message, {
            "extraction_id": str(exc.extraction.pk) if exc.extraction else None, "kind": exc.kind}) from None
    record = result.extraction
    return {"id": record.pk, "status": record.status, "data": result.data,
            "schema_used": {"name": schema.name, "hash": schema.digest, "registered": schema.registered},
            "profile": record.profile, "model": record.model, "mode": record.mode,
            "attempts": record.attempts,
            "usage": {"input_tokens": result.usage.input_tokens, "output_tokens": result.usage.output_tokens},
            "notice": result.notice}
