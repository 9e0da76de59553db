"""``extract(schema, text, profile=…)``: validated data from a model, or a precise error.

How JSON is asked for depends on the profile (``Profile.structured_mode()``):

* ``json_schema`` — OpenAI Chat ``response_format`` / Responses ``text.format`` with a
  *strict* JSON Schema when the schema allows strict mode, otherwise JSON mode
  (``json_object``) with the schema in the instructions;
* ``json_object`` — always JSON mode plus the schema in the instructions;
* ``tool`` — a forced call of one tool whose parameters are the schema (Anthropic's
  ``tool_choice={"type": "tool", ...}``, OpenAI's named ``tool_choice``);
* ``prompt`` — nothing but the instructions (for servers with none of the above).

Whatever the mode, the answer is validated with the same validators as tool arguments. An
invalid answer goes back to the model with the problems, at most
``EXTRACTION_MAX_CORRECTIONS`` times; then :class:`ExtractionInvalid` keeps the last output.
A refusal (OpenAI's ``refusal`` field) is :class:`ExtractionRefused`. Every call is
recorded as an :class:`~assistant.extraction.models.Extraction` and counted against the
caller's daily token budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from assistant.extraction.models import Extraction
from assistant.extraction.schemas import ExtractionSchema, as_schema
from assistant.ops import budgets
from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    OutputFormat,
    Provider,
    ProviderError,
    TextDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from assistant.providers.profiles import Profile, get_profile, provider_for
from tools.definition import Tool
from tools.validation import ValidationFailure

DEMO_NOTICE = ("Answered by the offline demo provider: pattern-matching rules, not a language model "
               "(docs/providers.md).")
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S | re.I)


class ExtractionError(Exception):
    """An extraction that produced no valid data; ``code`` and ``message`` are safe to show."""

    code = "extraction_failed"

    def __init__(self, message: str, *, extraction: Extraction | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extraction = extraction


class ExtractionInvalid(ExtractionError):
    """No output matched the schema after the corrections allowed; ``last_output`` is kept."""

    code = "extraction_invalid"

    def __init__(self, message: str, *, last_output: str, errors: list[dict[str, Any]],
                 extraction: Extraction | None = None) -> None:
        super().__init__(message, extraction=extraction)
        self.last_output, self.errors = last_output, errors


class ExtractionRefused(ExtractionError):
    """The model refused to answer; ``refusal`` is its own words."""

    code = "extraction_refused"

    def __init__(self, refusal: str, *, extraction: Extraction | None = None) -> None:
        super().__init__(f"The model refused to extract this: {refusal}", extraction=extraction)
        self.refusal = refusal


class ExtractionProviderError(ExtractionError):
    """The provider failed (after its own retries); ``kind`` is the ProviderError kind."""

    code = "provider_error"

    def __init__(self, error: ProviderError, *, extraction: Extraction | None = None) -> None:
        super().__init__(error.user_message, extraction=extraction)
        self.kind = error.kind


@dataclass
class ExtractionResult:
    data: dict[str, Any]  # JSON-ready, validated
    value: Any  # a model instance for Pydantic schemas, else ``data``
    extraction: Extraction
    usage: Usage = field(default_factory=Usage)
    notice: str | None = None  # set when no language model answered (the demo)


@dataclass
class _Plan:
    """How to ask this profile for this schema."""

    mode: str  # json_schema_strict | json_object | tool | prompt
    output: OutputFormat | None = None
    tool: Tool | None = None


async def aextract(schema: Any, text: str, *, profile: str | Profile | None = None, user: Any = None,
                   instructions: str | None = None, max_corrections: int | None = None,
                   source: str = Extraction.Source.SERVICE, provider: Provider | None = None,
                   ) -> ExtractionResult:
    """Extract ``schema`` (a Pydantic model, a typed function, a JSON Schema dict or an
    :class:`ExtractionSchema`) from ``text`` with the model of ``profile`` (default: the
    default profile). Raises :class:`~assistant.extraction.schemas.SchemaError` for an
    unusable schema, :class:`budgets.BudgetExceeded` (nothing recorded) when ``user`` has no
    tokens left today, else an :class:`ExtractionError` subclass, recorded like a success."""
    spec = as_schema(schema)
    chosen = profile if isinstance(profile, Profile) else get_profile(profile)
    refused = await budgets.acheck(user)
    if refused is not None:
        raise refused
    corrections = settings.EXTRACTION_MAX_CORRECTIONS if max_corrections is None else max_corrections
    provider = provider or provider_for(chosen)
    plan = _plan(spec, chosen)
    record = await Extraction.objects.acreate(
        user=user if getattr(user, "pk", None) else None, source=source, schema_name=spec.name,
        schema_registered=spec.registered, schema_hash=spec.digest, schema=spec.schema,
        profile=chosen.name, provider=chosen.provider, model=chosen.model, mode=plan.mode,
        text_chars=len(text), text_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    runner = _Attempts(spec, chosen, provider, plan, record, instructions)
    return await runner.run(text, corrections)


def extract(schema: Any, text: str, **options: Any) -> ExtractionResult:
    """:func:`aextract` for synchronous code (commands, shells, Celery tasks)."""
    return async_to_sync(aextract)(schema, text, **options)


def _plan(spec: ExtractionSchema, profile: Profile) -> _Plan:
    mode = profile.structured_mode()
    if mode == "json_schema" and spec.strict_ok:
        return _Plan("json_schema_strict", output=OutputFormat(spec.name, spec.strict(), strict=True))
    if mode in ("json_schema", "json_object"):
        return _Plan("json_object", output=OutputFormat(spec.name, spec.schema, mode="json_object"))
    if mode == "tool":
        tool = Tool.from_definition(
            {"name": spec.name, "description": spec.description or f"Record the extracted {spec.name}.",
             "input_schema": spec.schema}, fn=lambda **kwargs: kwargs)
        return _Plan("tool", tool=tool)
    return _Plan("prompt")


class _Attempts:
    """One extraction's conversation with the model: ask, validate, correct, record."""

    def __init__(self, spec: ExtractionSchema, profile: Profile, provider: Provider, plan: _Plan,
                 record: Extraction, instructions: str | None) -> None:
        self.spec, self.profile, self.provider, self.plan = spec, profile, provider, plan
        self.record, self.instructions = record, instructions
        self.usage = Usage()
        self.attempts = 0

    async def run(self, text: str, corrections: int) -> ExtractionResult:
        """:meth:`_run`, and a record that never stays ``running``: a bug or a cancellation
        closes it as ``failed`` (``internal_error`` / ``cancelled``) before propagating."""
        try:
            return await self._run(text, corrections)
        except ExtractionError:
            raise
        except BaseException as exc:
            code = "cancelled" if isinstance(exc, asyncio.CancelledError) else "internal_error"
            if self.record.status == Extraction.Status.RUNNING:
                await asyncio.shield(self._finish(Extraction.Status.FAILED, error_code=code,
                                                  error=f"{type(exc).__name__}: {exc}"[:2000]))
            raise

    async def _run(self, text: str, corrections: int) -> ExtractionResult:
        messages = [ChatMessage("user", text)]
        output, problems = "", []
        for _ in range(corrections + 1):
            try:
                output, call_id, refusal = await self._ask(messages)
            except ProviderError as exc:
                await self._finish(Extraction.Status.FAILED, error_code=f"provider_{exc.kind}",
                                   error=exc.user_message)
                raise ExtractionProviderError(exc, extraction=self.record) from exc
            if refusal is not None:
                await self._finish(Extraction.Status.REFUSED, last_output=refusal, error_code="refused",
                                   error="The model refused.")
                raise ExtractionRefused(refusal, extraction=self.record)
            try:
                data = self.spec.validate(_json_text(output))
            except ValidationFailure as failure:
                problems = _problems(failure)
                messages += self._correction(output, call_id, failure)
                await self._count()
                continue
            await self._finish(Extraction.Status.SUCCEEDED, result=data)
            notice = DEMO_NOTICE if self.profile.provider == "demo" else None
            return ExtractionResult(data, self.spec.instance(data), self.record, self.usage, notice)
        message = (f"The model's answer did not match the schema {self.spec.name!r} after "
                   f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}: "
                   + "; ".join(f"{p['path'] or '(top level)'} {p['problem']}" for p in problems[:5]))
        await self._finish(Extraction.Status.INVALID, last_output=output, errors=problems,
                           error_code="invalid", error=message)
        raise ExtractionInvalid(message, last_output=output, errors=problems, extraction=self.record)

    async def _ask(self, messages: list[ChatMessage]) -> tuple[str, str | None, str | None]:
        """The model's answer text (or the forced call's arguments), the call's id, and its
        refusal if it refused."""
        plan = self.plan
        request = ChatRequest(
            model=self.profile.model, messages=list(messages), system=self._system(),
            tools=[plan.tool] if plan.tool else [], tool_choice=plan.tool.name if plan.tool else "auto",
            output=plan.output, max_tokens=4096,
        )
        self.attempts += 1
        parts: list[str] = []
        call: ToolCallFinished | None = None
        finished = Finished("stop")
        async for event in self.provider.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ToolCallFinished) and call is None:
                call = event
            elif isinstance(event, Usage):
                self.usage = Usage(self.usage.input_tokens + event.input_tokens,
                                   self.usage.output_tokens + event.output_tokens)
            elif isinstance(event, Finished):
                finished = event
        if finished.raw_reason == "refusal":
            return "", None, "".join(parts)
        if plan.tool is not None:
            if call is None:  # answered in words although the tool was forced
                return "".join(parts), None, None
            return call.arguments, call.id, None
        return "".join(parts), None, None

    def _system(self) -> str:
        lines = [
            "Extract data from the user's text. Use only what the text says; where it does not "
            "give a value, use null if the schema allows it.",
        ]
        if self.plan.mode == "tool":
            lines.append(f"Call the {self.spec.name} tool with the data; do not answer in words.")
        else:
            lines.append("Answer with one JSON object and nothing else.")
        if self.plan.mode in ("json_object", "prompt"):
            lines.append(f"The JSON must match this JSON Schema:\n{json.dumps(self.spec.schema)}")
        if self.instructions:
            lines.append(self.instructions)
        return "\n\n".join(lines)

    def _correction(self, output: str, call_id: str | None, failure: ValidationFailure) -> list[ChatMessage]:
        """The invalid answer as the model gave it, then what is wrong with it."""
        error = failure.error.as_dict()
        feedback = (f"That does not match the schema: {failure.error.message}. Problems: "
                    f"{json.dumps(error.get('details') or [])}. ")
        if call_id is not None:
            return [ChatMessage("assistant", tool_calls=(ToolCallPart(call_id, self.spec.name, output),)),
                    ChatMessage("tool", tool_results=(ToolResultPart(
                        call_id, self.spec.name, json.dumps({"error": error}), is_error=True),))]
        again = ("Call the tool again with corrected data." if self.plan.tool is not None
                 else "Answer again with the corrected JSON object only.")
        return [ChatMessage("assistant", output), ChatMessage("user", feedback + again)]

    async def _count(self) -> None:
        """Usage and attempts so far, written before each correction (a crash mid-way still
        counts); the last attempt's are written with the outcome (:meth:`_finish`)."""
        self.record.attempts = self.attempts
        self.record.input_tokens = self.usage.input_tokens
        self.record.output_tokens = self.usage.output_tokens
        await Extraction.objects.filter(pk=self.record.pk).aupdate(
            attempts=self.attempts, input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.output_tokens)

    async def _finish(self, status: str, **changes: Any) -> None:
        changes.update(attempts=self.attempts, input_tokens=self.usage.input_tokens,
                       output_tokens=self.usage.output_tokens)
        await sync_to_async(self.record.finish)(status, **changes)


def _json_text(output: str) -> str:
    """The answer, without the Markdown fence some models put around JSON."""
    fenced = _FENCE.match(output)
    return fenced[1] if fenced else output


def _problems(failure: ValidationFailure) -> list[dict[str, Any]]:
    error = failure.error
    if error.details:
        return [{"path": d.get("path", ""), "problem": d.get("problem", ""),
                 **({"got": d["got"]} if "got" in d else {})} for d in error.details]
    return [{"path": "", "problem": error.message}]
