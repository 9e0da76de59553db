"""``@tool`` turns a typed function into a Tool; bad definitions fail at definition time."""

import random

import pytest
from pydantic import BaseModel, Field

from tools import Retry, Risk, Tool, ToolContext, tool
from tools.definition import RateLimit
from tools.errors import ToolDefinitionError, ToolTimeout, TransientToolError
from tools.validation import JsonSchemaValidator, ValidationFailure


def test_decorator_makes_a_tool_that_still_calls_the_function():
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    assert isinstance(add, Tool)
    assert add.name == "add" and add.description == "Add two numbers."
    assert add(2, 3) == 5 and add.fn(a=1, b=1) == 2
    assert add.is_async is False


def test_async_function_is_marked_async():
    @tool(name="fetch_page")
    async def fetch(url: str) -> str:
        """Fetch."""
        return url

    assert fetch.is_async is True and fetch.name == "fetch_page"


def test_metadata_is_kept_on_the_tool():
    retry = Retry(attempts=4, base_delay=0.01)

    @tool(risk="high", read_only=True, timeout=2.5, retry=retry, cache_ttl=60, rate_limit="10/m",
          max_concurrency=2, fallback="other", permission="tools.view_toolcall", strict=False)
    def meta(x: int) -> int:
        """Meta."""
        return x

    assert meta.risk is Risk.HIGH and meta.read_only is True and meta.timeout == 2.5
    assert meta.retry is retry and meta.cache_ttl == 60
    assert meta.rate_limit == RateLimit(10, 60)
    assert meta.max_concurrency == 2 and meta.fallback == "other"
    assert meta.permission == "tools.view_toolcall" and meta.strict is False


def test_defaults_are_low_risk_no_retry_no_limits():
    @tool
    def plain(x: int) -> int:
        """Plain."""
        return x

    assert plain.risk is Risk.LOW and not plain.read_only and plain.timeout is None
    assert plain.retry.attempts == 1 and plain.cache_ttl == 0 and plain.rate_limit is None
    assert plain.max_concurrency is None and plain.fallback is None and plain.permission is None


@pytest.mark.parametrize("name", ["has space", "dot.name", "", "x" * 65, "ünïcode"])
def test_invalid_names_are_refused(name):
    def f(x: int) -> int:
        """F."""
        return x

    with pytest.raises(ToolDefinitionError, match=r"tool name .* is invalid: it must match"):
        tool(f, name=name)


@pytest.mark.parametrize("name", ["a", "get-weather", "snake_case_1", "x" * 64])
def test_valid_names_are_accepted(name):
    def f(x: int) -> int:
        """F."""
        return x

    assert tool(f, name=name).name == name


def test_missing_description_is_refused():
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match=r"tool 'nodoc' has no description"):
        tool(nodoc)
    assert tool(nodoc, description="Given here.").description == "Given here."


@pytest.mark.parametrize(("options", "message"), [
    ({"risk": "extreme"}, r"tool 'f': risk must be one of low, medium, high; got 'extreme'"),
    ({"timeout": 0}, r"tool 'f': timeout must be > 0"),
    ({"cache_ttl": -1}, r"tool 'f': cache_ttl must be >= 0"),
    ({"max_concurrency": 0}, r"tool 'f': max_concurrency must be >= 1"),
    ({"fallback": "f"}, r"tool 'f' cannot be its own fallback"),
    ({"rate_limit": "often"}, r"tool 'f': rate limit 'often' is not of the form COUNT/PERIOD"),
    ({"rate_limit": "5/0s"}, r"tool 'f': rate limit '5/0s' is not of the form"),
    ({"rate_limit": "0/m"}, r"tool 'f': rate limit '0/m' is not of the form"),
    ({"retry": 3}, r"tool 'f': retry must be a Retry\(...\) policy, got 3"),
])
def test_invalid_metadata_is_refused(options, message):
    def f(x: int) -> int:
        """F."""
        return x

    with pytest.raises(ToolDefinitionError, match=message):
        tool(f, **options)


@pytest.mark.parametrize(("spec", "expected"), [
    ("10/m", RateLimit(10, 60)), ("100/h", RateLimit(100, 3600)), ("5/30s", RateLimit(5, 30)),
    ("1/day", RateLimit(1, 86400)), (" 3 / 2m ", RateLimit(3, 120)),
])
def test_rate_limit_parsing(spec, expected):
    assert RateLimit.parse(spec) == expected


def test_strict_true_with_a_free_form_dict_fails_at_definition():
    def f(data: dict) -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match=r"tool 'f': data is a free-form object"):
        tool(f, strict=True)
    assert tool(f, strict=False).strict is False


class SearchParams(BaseModel):
    """Search the catalogue."""

    query: str = Field(description="What to look for")
    limit: int = Field(10, ge=1, le=50)


def test_params_model_replaces_the_signature():
    @tool(params=SearchParams)
    def search(params: SearchParams, ctx: ToolContext) -> list[str]:
        return [params.query] * params.limit

    assert search.description == "Search the catalogue."
    assert search.parameters["properties"]["query"]["description"] == "What to look for"
    assert search.parameters["additionalProperties"] is False
    kwargs, args_json = search.validate('{"query": "tea", "limit": 2}')
    assert isinstance(kwargs["params"], SearchParams) and kwargs["params"].limit == 2
    assert args_json == {"query": "tea", "limit": 2}
    assert search.context_param == "ctx"
    with pytest.raises(ValidationFailure) as info:
        search.validate('{"query": "tea", "extra": 1}')
    assert info.value.error.details[0]["path"] == "extra"


def test_params_model_needs_exactly_one_argument():
    def two(a: SearchParams, b: int) -> None:
        """Two."""

    with pytest.raises(ToolDefinitionError, match=r"tool 'two': with params=SearchParams, the function "
                                                  r"must take exactly one argument"):
        tool(two, params=SearchParams)
    with pytest.raises(ToolDefinitionError, match=r"params must be a pydantic model class"):
        tool(two, params=dict)


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
    "additionalProperties": False,
}


def _weather(city: str, days: int = 1) -> str:
    return f"{city}:{days}"


@pytest.mark.parametrize("definition", [
    {"type": "function", "function": {"name": "weather", "description": "Weather.",
                                       "parameters": WEATHER_SCHEMA}},
    {"type": "function", "name": "weather", "description": "Weather.", "parameters": WEATHER_SCHEMA,
     "strict": False},
    {"name": "weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA},
])
def test_from_definition_accepts_openai_chat_responses_and_anthropic_shapes(definition):
    t = Tool.from_definition(definition, _weather, risk="medium")
    assert t.name == "weather" and t.description == "Weather." and t.risk is Risk.MEDIUM
    assert t.parameters == WEATHER_SCHEMA
    assert isinstance(t.validator, JsonSchemaValidator)
    assert t.validate('{"city": "Oslo", "days": 2}') == ({"city": "Oslo", "days": 2},) * 2
    with pytest.raises(ValidationFailure) as info:
        t.validate('{"city": "Oslo", "days": "2"}')
    assert info.value.error.details == [
        {"path": "days", "problem": "must be a valid integer", "got": "2"},
    ]


def test_from_definition_keeps_the_definition_strict_flag():
    strict_schema = {**WEATHER_SCHEMA, "required": ["city", "days"]}
    t = Tool.from_definition({"type": "function", "name": "w", "description": "W.",
                              "parameters": strict_schema, "strict": True}, _weather)
    assert t.strict is True


def test_from_definition_finds_a_context_parameter():
    def fn(city: str, ctx: ToolContext) -> str:
        return city

    t = Tool.from_definition({"name": "w", "description": "W.", "input_schema": WEATHER_SCHEMA}, fn)
    assert t.context_param == "ctx"


@pytest.mark.parametrize(("definition", "message"), [
    ({"name": "w", "description": "W."}, r"tool 'w': definition has neither 'parameters'"),
    ({"name": "w", "description": "W.", "input_schema": {"type": "array"}},
     r"tool 'w': the parameters schema must have type 'object'"),
    ({"name": "w", "description": "W.", "input_schema": {"type": "object", "properties": 3}},
     r"tool 'w': invalid JSON schema"),
    ({"name": "w w", "description": "W.", "input_schema": WEATHER_SCHEMA}, r"tool name 'w w' is invalid"),
    ({"name": "w", "input_schema": WEATHER_SCHEMA}, r"tool 'w' has no description"),
    ("not a dict", r"a tool definition must be a JSON object"),
])
def test_from_definition_rejects_bad_definitions(definition, message):
    with pytest.raises(ToolDefinitionError, match=message):
        Tool.from_definition(definition, _weather)


def test_retry_delay_is_exponential_with_full_jitter():
    retry = Retry(attempts=5, base_delay=1.0, max_delay=3.0)
    random.seed(7)
    samples = {attempt: [retry.delay(attempt) for _ in range(300)] for attempt in (1, 2, 3, 4)}
    assert all(0 <= d <= 1.0 for d in samples[1])
    assert all(0 <= d <= 2.0 for d in samples[2]) and max(samples[2]) > 1.0
    assert all(0 <= d <= 3.0 for d in samples[4]) and max(samples[4]) > 2.0  # capped at max_delay
    assert len(set(samples[1])) > 250  # jittered, not a fixed schedule


def test_retry_is_decided_by_exception_type_not_message():
    retry = Retry()
    assert retry.retries(TransientToolError("busy")) and retry.retries(ConnectionResetError())
    assert not retry.retries(ValueError("temporarily unavailable, please retry"))
    assert not retry.retries(ToolTimeout("slow"))
    assert Retry(on=(ToolTimeout,)).retries(ToolTimeout("slow"))
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        Retry(attempts=0)


def test_a_read_only_tool_is_idempotent_unless_it_says_otherwise_and_others_only_when_they_say_so():
    from tools.definition import tool

    def f(x: int) -> int:
        """Return x.

        Args:
            x: A number.
        """
        return x

    assert tool(f, read_only=True).idempotent is True
    assert tool(f, read_only=True, idempotent=False).idempotent is False
    assert tool(f).idempotent is False
    assert tool(f, idempotent=True).idempotent is True


def test_the_safe_built_ins_are_idempotent_and_the_ones_with_effects_are_not():
    from tools.builtin import calculator, clock, files, mail, notes, sandbox, sql, units, web

    safe = [calculator.calculator, clock.current_time, files.read_file, notes.search_notes,
            sql.query_database, units.convert_units, web.http_get]
    effects = [files.write_file, notes.create_note, notes.delete_note, mail.send_email, sandbox.run_python]
    assert all(t.idempotent for t in safe)
    assert not any(t.idempotent for t in effects)
