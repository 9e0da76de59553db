"""Every call goes through the pipeline and comes out as a result and a ToolCall row."""

import asyncio
import datetime
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from pydantic import BaseModel

from tests.tools.pipeline_helpers import Counter, pipeline, req
from tools import ArgumentError, ToolContext, tool
from tools.errors import ErrorType
from tools.models import ToolCall
from tools.pipeline import ToolCallRequest, ToolResult
from tools.results import REDACTED

pytestmark = pytest.mark.django_db(transaction=True)


@tool
def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


@tool
async def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


@tool
def explode(reason: str) -> None:
    """Always fails."""
    raise ValueError(f"cannot do it: {reason}")


async def _row(result: ToolResult) -> ToolCall:
    assert result.record_id is not None
    return await ToolCall.objects.select_related("user").aget(pk=result.record_id)


# -- success and the record -----------------------------------------------------------------


async def test_successful_sync_call_returns_output_and_keeps_the_call_id(user):
    ctx = ToolContext(user=user)
    result = await pipeline(add).call(req("add", '{"a": 2, "b": 3}', call_id="call_1"), ctx)
    assert (result.status, result.output, result.call_id, result.name) == ("ok", 5, "call_1", "add")
    assert result.ok and result.error is None and result.attempts == 1
    assert result.content() == "5"


async def test_successful_async_call(user):
    result = await pipeline(shout).call(req("shout", '{"text": "hi"}'), ToolContext(user=user))
    assert result.output == "HI"
    assert result.call_id.startswith("call_") and len(result.call_id) > 10  # generated


async def test_every_call_is_recorded_with_user_arguments_status_result_and_timings(user):
    result = await pipeline(add).call(req("add", '{"b": 1, "a": 41}', call_id="c-9"), ToolContext(user=user))
    row = await _row(result)
    assert row.user == user and row.username == "alice" and row.tool_name == "add" and row.risk == "low"
    assert row.call_id == "c-9"
    assert row.raw_arguments == '{"b": 1, "a": 41}'
    assert row.arguments == {"a": 41, "b": 1}
    assert row.status == ToolCall.Status.SUCCEEDED and row.result == 42
    assert row.error is None and row.error_type == "" and row.attempts == 1
    assert row.created_at <= row.started_at <= row.finished_at
    assert row.duration_ms is not None and row.duration_ms >= 0
    assert row.pending_arguments is None


async def test_record_false_writes_nothing(user):
    result = await pipeline(add, record=False).call(req("add", '{"a": 1}'), ToolContext(user=user))
    assert result.output == 1 and result.record_id is None
    assert await ToolCall.objects.acount() == 0


async def test_anonymous_call_is_recorded_without_a_user():
    result = await pipeline(add).call(req("add", {"a": 1}))
    row = await _row(result)
    assert row.user is None and row.username == "" and row.raw_arguments == '{"a": 1}'


def test_call_sync_runs_the_same_pipeline(user):
    result = pipeline(add).call_sync(req("add", '{"a": 4}'), ToolContext(user=user))
    assert result.output == 4 and ToolCall.objects.get(pk=result.record_id).status == "succeeded"


async def test_as_dict_is_the_structured_result(user):
    ok = await pipeline(add).call(req("add", '{"a": 1}', call_id="x"), ToolContext(user=user))
    assert ok.as_dict() == {"call_id": "x", "name": "add", "status": "ok", "result": 1,
                            "duration_ms": round(ok.duration_ms, 3), "record_id": ok.record_id}
    bad = await pipeline(add).call(req("nope", "{}", call_id="y"), ToolContext(user=user))
    assert bad.as_dict()["error"]["type"] == "unknown_tool" and "result" not in bad.as_dict()


# -- structured errors, never exceptions ----------------------------------------------------


async def test_unknown_tool_is_a_structured_error_listing_the_available_tools(user):
    result = await pipeline(add, shout).call(req("subtract", '{"a": 1}'), ToolContext(user=user))
    assert result.status == "error" and result.error.type is ErrorType.UNKNOWN_TOOL
    assert result.error.message == "there is no tool named 'subtract'"
    assert result.error.hint == "Use one of: add, shout."
    assert json.loads(result.content())["error"]["type"] == "unknown_tool"
    row = await _row(result)
    assert row.status == ToolCall.Status.REJECTED and row.error_type == "unknown_tool"
    assert row.tool_name == "subtract" and row.finished_at is not None


async def test_unknown_tool_in_a_large_catalog_hints_the_closest_names_and_search_tools(user):
    from tools.pipeline import Pipeline
    from tools.registry import Registry
    from tools.selection import search_tool

    registry = Registry()
    for i in range(60):
        def fn(x: int) -> int:
            """Convert a currency amount."""
            return x

        registry.register(tool(fn, name=f"convert_currency_{i}" if i < 3 else f"other_task_{i}",
                               description="Convert currency." if i < 3 else f"Task number {i}."))
    registry.register(search_tool(registry))
    result = await Pipeline(registry, gate=None).call(req("currency_convert", "{}"), ToolContext(user=user))
    assert result.error.type is ErrorType.UNKNOWN_TOOL
    assert result.error.hint == ("Similar tools: convert_currency_0, convert_currency_1, convert_currency_2. "
                                 "Call search_tools with what you want to do to find others.")


@pytest.mark.parametrize(("raw", "message"), [
    ('{"a": 1', "arguments are not valid JSON"),
    ("[1, 2]", "arguments must be a JSON object, got an array"),
    ('"a=1"', "arguments must be a JSON object, got a string"),
])
async def test_malformed_and_non_object_json_are_invalid_json_results(user, raw, message):
    result = await pipeline(add).call(req("add", raw), ToolContext(user=user))
    assert result.error.type is ErrorType.INVALID_JSON and result.error.message.startswith(message)
    row = await _row(result)
    assert row.status == ToolCall.Status.REJECTED and row.raw_arguments == raw and row.arguments is None


async def test_validation_error_is_recorded_as_rejected_and_nothing_runs(user):
    counter = Counter()

    @tool
    def count(n: int) -> int:
        """Count."""
        counter.enter()
        return n

    result = await pipeline(count).call(req("count", '{"n": "5"}'), ToolContext(user=user))
    assert result.error.type is ErrorType.VALIDATION_ERROR and counter.calls == 0
    assert result.error.details == [{"path": "n", "problem": "must be a valid integer", "got": "5"}]
    row = await _row(result)
    assert row.status == ToolCall.Status.REJECTED and row.error["details"][0]["path"] == "n"


async def test_tool_exception_is_an_execution_error_with_its_message(user):
    result = await pipeline(explode).call(req("explode", '{"reason": "no disk"}'), ToolContext(user=user))
    assert result.error.type is ErrorType.EXECUTION_ERROR
    assert result.error.message == "explode failed: ValueError: cannot do it: no disk"
    row = await _row(result)
    assert row.status == ToolCall.Status.FAILED and row.error_type == "execution_error"


async def test_argument_error_from_the_tool_is_a_validation_error(user):
    @tool
    def in_zone(zone: str) -> str:
        """Time in a zone."""
        raise ArgumentError(f"unknown time zone {zone!r}", path="zone", got=zone, hint="Use an IANA name.")

    result = await pipeline(in_zone).call(req("in_zone", '{"zone": "Mars/Base"}'), ToolContext(user=user))
    assert result.error.as_dict() == {
        "type": "validation_error", "message": "invalid arguments for in_zone: unknown time zone 'Mars/Base'",
        "details": [{"path": "zone", "problem": "unknown time zone 'Mars/Base'", "got": "Mars/Base"}],
        "hint": "Use an IANA name.",
    }


class Halt(BaseException):
    """Not an Exception: a tool raising it must still not escape the pipeline."""


@tool
def sync_exit() -> None:
    """Calls sys.exit."""
    raise SystemExit(3)


@tool
async def async_exit() -> None:
    """Calls sys.exit from a coroutine."""
    raise SystemExit(4)


@tool
def sync_halt() -> None:
    """Raises a BaseException."""
    raise Halt("stop everything")


@tool
async def async_halt() -> None:
    """Raises a BaseException from a coroutine."""
    raise Halt("stop everything")


@pytest.mark.parametrize(("name", "message"), [
    ("sync_exit", "sync_exit failed: SystemExit: 3"),
    ("async_exit", "async_exit failed: SystemExit: 4"),
    ("sync_halt", "sync_halt failed: Halt: stop everything"),
    ("async_halt", "async_halt failed: Halt: stop everything"),
])
async def test_base_exceptions_from_a_tool_become_execution_errors(user, name, message):
    p = pipeline(sync_exit, async_exit, sync_halt, async_halt, add)
    result = await p.call(req(name, "{}"), ToolContext(user=user))
    assert result.error.type is ErrorType.EXECUTION_ERROR and result.error.message == message
    assert (await _row(result)).status == ToolCall.Status.FAILED
    assert (await p.call(req("add", '{"a": 1}'), ToolContext(user=user))).output == 1  # the loop lives on


async def test_unserialisable_result_is_an_execution_error(user):
    @tool
    def handle() -> object:
        """Return something JSON cannot hold."""
        return {"lock": asyncio.Lock()}

    result = await pipeline(handle).call(req("handle"), ToolContext(user=user))
    assert result.error.type is ErrorType.EXECUTION_ERROR
    assert "cannot be converted to JSON" in result.error.message
    assert (await _row(result)).status == ToolCall.Status.FAILED


def broken_access_policy(user, tool):
    raise RuntimeError("policy database unavailable")


async def test_a_failure_outside_the_tool_is_still_a_result_not_an_exception(user, settings):
    settings.TOOLS_ACCESS_POLICY = "tests.tools.test_pipeline.broken_access_policy"
    result = await pipeline(add).call(req("add", '{"a": 1}', call_id="c1"), ToolContext(user=user))
    assert result.status == "error" and result.call_id == "c1"
    assert result.error.type is ErrorType.EXECUTION_ERROR
    assert result.error.message == ("the call to add could not be handled: RuntimeError: policy database "
                                    "unavailable")


# -- output ----------------------------------------------------------------------------------


@dataclass
class Booking:
    ref: uuid.UUID
    at: datetime.datetime
    price: Decimal


class Receipt(BaseModel):
    booking: Booking
    paid: bool


async def test_rich_return_values_are_serialised(user):
    @tool
    def book() -> Receipt:
        """Book."""
        at = datetime.datetime(2025, 1, 2, 3, 4, tzinfo=datetime.UTC)
        return Receipt(booking=Booking(uuid.UUID(int=1), at, Decimal("9.99")), paid=True)

    result = await pipeline(book).call(req("book"), ToolContext(user=user))
    expected = {"booking": {"ref": "00000000-0000-0000-0000-000000000001", "at": "2025-01-02T03:04:00Z",
                            "price": "9.99"}, "paid": True}
    assert result.output == expected and (await _row(result)).result == expected


@pytest.mark.parametrize("value", [0, [], "", False, None, {}])
async def test_falsy_results_are_results_not_errors(user, value):
    @tool
    def nothing() -> object:
        """Return a falsy value."""
        return value

    result = await pipeline(nothing).call(req("nothing"), ToolContext(user=user))
    assert result.status == "ok" and result.error is None and result.output == value
    row = await _row(result)
    assert row.status == ToolCall.Status.SUCCEEDED and row.result == value and row.error is None


async def test_long_results_are_truncated_at_the_setting_with_a_marker(user, settings):
    settings.TOOLS_MAX_RESULT_CHARS = 100

    @tool
    def essay() -> str:
        """Write at length."""
        return "word " * 100

    result = await pipeline(essay).call(req("essay"), ToolContext(user=user))
    assert result.truncated and result.output["truncated"] is True
    assert result.output["content"].endswith("… [truncated 402 characters]")
    row = await _row(result)
    assert row.truncated and row.result == result.output


async def test_sensitive_keys_are_redacted_in_the_result_and_the_stored_row(user):
    @tool
    def connect(host: str, password: str) -> dict:
        """Connect to a host."""
        return {"host": host, "session": {"access_token": "tok-123", "expires": 60}, "password": password}

    raw = '{"host": "db", "password": "hunter2"}'
    result = await pipeline(connect).call(req("connect", raw), ToolContext(user=user))
    assert result.output == {"host": "db", "session": {"access_token": REDACTED, "expires": 60},
                             "password": REDACTED}
    row = await _row(result)
    assert row.result == result.output
    assert row.arguments == {"host": "db", "password": REDACTED}
    assert json.loads(row.raw_arguments) == {"host": "db", "password": REDACTED}
    stored = json.dumps([row.result, row.arguments, row.raw_arguments])
    assert "hunter2" not in stored and "tok-123" not in stored


async def test_raw_arguments_of_rejected_calls_are_redacted_too(user):
    raw = '{"host": "db", "password": "hunter2", "port": "5432"}'

    @tool
    def connect(host: str, password: str, port: int) -> None:
        """Connect."""

    result = await pipeline(connect).call(req("connect", raw), ToolContext(user=user))
    assert result.error.type is ErrorType.VALIDATION_ERROR
    row = await _row(result)
    assert "hunter2" not in row.raw_arguments and json.loads(row.raw_arguments)["port"] == "5432"


async def test_raw_arguments_that_are_not_json_are_scrubbed_as_well(user):
    raw = '{"user": "a", "password": "hunter2", '
    result = await pipeline(add).call(req("add", raw), ToolContext(user=user))
    row = await _row(result)
    assert result.error.type is ErrorType.INVALID_JSON
    assert "hunter2" not in row.raw_arguments and '"user": "a"' in row.raw_arguments


async def test_got_values_of_sensitive_arguments_are_not_stored(user):
    @tool
    def login(password: str) -> None:
        """Log in."""

    result = await pipeline(login).call(req("login", '{"password": 123456}'), ToolContext(user=user))
    assert result.error.details[0]["got"] == 123456  # the model sent it and may see it again
    row = await _row(result)
    assert row.error["details"][0]["got"] == REDACTED and "123456" not in json.dumps(row.error)


# -- cache -----------------------------------------------------------------------------------


def _cached_tool(counter: Counter, ttl: int = 60):
    @tool(cache_ttl=ttl)
    def lookup(city: str, units: str = "metric") -> dict:
        """Look a city up."""
        counter.enter()
        counter.exit()
        return {"city": city, "n": counter.calls}

    return lookup


async def test_cache_hits_for_the_same_arguments_in_any_key_order(user):
    counter = Counter()
    p = pipeline(_cached_tool(counter))
    ctx = ToolContext(user=user)
    first = await p.call(req("lookup", '{"city": "Oslo", "units": "metric"}'), ctx)
    second = await p.call(req("lookup", '{"units": "metric", "city": "Oslo"}'), ctx)
    third = await p.call(req("lookup", '{"city": "Oslo"}'), ctx)  # the default, spelled out or not
    assert counter.calls == 1
    assert not first.cached and second.cached and third.cached
    assert first.output == second.output == third.output
    assert (await _row(second)).cached is True


async def test_cache_misses_for_other_arguments_and_other_users(user, other_user):
    counter = Counter()
    p = pipeline(_cached_tool(counter))
    await p.call(req("lookup", '{"city": "Oslo"}'), ToolContext(user=user))
    await p.call(req("lookup", '{"city": "Rome"}'), ToolContext(user=user))
    other = await p.call(req("lookup", '{"city": "Oslo"}'), ToolContext(user=other_user))
    assert counter.calls == 3 and not other.cached


async def test_cache_entries_expire(user):
    counter = Counter()
    p = pipeline(_cached_tool(counter, ttl=1))
    ctx = ToolContext(user=user)
    await p.call(req("lookup", '{"city": "Oslo"}'), ctx)
    await asyncio.sleep(1.1)
    again = await p.call(req("lookup", '{"city": "Oslo"}'), ctx)
    assert counter.calls == 2 and not again.cached


async def test_failures_are_not_cached(user):
    counter = Counter()

    @tool(cache_ttl=60)
    def flaky(x: int) -> int:
        """Fails the first time."""
        counter.enter()
        counter.exit()
        if counter.calls == 1:
            raise RuntimeError("first call fails")
        return x

    p = pipeline(flaky)
    assert (await p.call(req("flaky", '{"x": 1}'), ToolContext(user=user))).status == "error"
    assert (await p.call(req("flaky", '{"x": 1}'), ToolContext(user=user))).output == 1
    assert counter.calls == 2


# -- fallback --------------------------------------------------------------------------------


@tool(fallback="backup_quote")
def live_quote(symbol: str) -> dict:
    """Live quote."""
    raise ConnectionError("exchange unreachable")


@tool
def backup_quote(symbol: str) -> dict:
    """Delayed quote."""
    return {"symbol": symbol, "delayed": True}


async def test_fallback_tool_is_used_when_the_primary_fails(user):
    result = await pipeline(live_quote, backup_quote).call(req("live_quote", '{"symbol": "ACME"}'),
                                                           ToolContext(user=user))
    assert result.status == "ok" and result.output == {"symbol": "ACME", "delayed": True}
    assert result.name == "live_quote" and result.attempts == 2
    row = await _row(result)
    assert row.fallback_tool == "backup_quote" and row.status == ToolCall.Status.SUCCEEDED


async def test_fallback_is_not_used_for_validation_errors(user):
    calls = Counter()

    @tool(fallback="spare")
    def strict_one(n: int) -> int:
        """Strict."""
        raise ArgumentError("n must be even", path="n", got=n)

    @tool
    def spare(n: int) -> int:
        """Spare."""
        calls.enter()
        return n

    result = await pipeline(strict_one, spare).call(req("strict_one", '{"n": 3}'), ToolContext(user=user))
    assert result.error.type is ErrorType.VALIDATION_ERROR and calls.calls == 0


async def test_when_the_fallback_fails_too_its_error_is_reported(user):
    @tool(fallback="also_down")
    def down(x: int) -> int:
        """Down."""
        raise ConnectionError("primary down")

    @tool
    def also_down(x: int) -> int:
        """Also down."""
        raise ConnectionError("secondary down")

    result = await pipeline(down, also_down).call(req("down", '{"x": 1}'), ToolContext(user=user))
    assert result.error.message == "also_down failed: ConnectionError: secondary down"
    assert (await _row(result)).fallback_tool == "also_down"


async def test_fallback_the_user_may_not_use_is_skipped(user):
    @tool(fallback="admin_quote")
    def quote(symbol: str) -> dict:
        """Quote."""
        raise ConnectionError("down")

    @tool(permission="tools.delete_toolcall")
    def admin_quote(symbol: str) -> dict:
        """Admin quote."""
        return {}

    result = await pipeline(quote, admin_quote).call(req("quote", '{"symbol": "A"}'), ToolContext(user=user))
    assert result.error.message == "quote failed: ConnectionError: down"


async def test_fallback_the_gate_would_not_allow_is_skipped(user):
    asked = []

    def gate(call):
        from tools.gate import GateDecision

        asked.append(call.tool.name)
        return GateDecision.allow() if call.tool.name == "live_quote" else GateDecision.require_approval()

    result = await pipeline(live_quote, backup_quote, gate=gate).call(req("live_quote", '{"symbol": "A"}'),
                                                                      ToolContext(user=user))
    assert asked == ["live_quote", "backup_quote"]
    assert result.error.message == "live_quote failed: ConnectionError: exchange unreachable"


# -- cancellation -----------------------------------------------------------------------------


async def test_a_cancelled_call_does_not_stay_running_in_the_records(user):
    started = asyncio.Event()

    @tool
    async def slow() -> None:
        """Slow."""
        started.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(pipeline(slow).call(req("slow", call_id="c-cancel"), ToolContext(user=user)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await ToolCall.objects.aget(call_id="c-cancel")
    assert row.status == ToolCall.Status.FAILED and row.error["message"] == "the call to slow was cancelled"


# -- idempotency ------------------------------------------------------------------------------


def _once_tool(counter: Counter):
    @tool
    async def charge(amount: int) -> dict:
        """Charge a card."""
        counter.enter()
        await asyncio.sleep(0.05)
        counter.exit()
        return {"charged": amount, "n": counter.calls}

    return charge


async def test_same_idempotency_key_runs_the_tool_once(user):
    counter = Counter()
    p = pipeline(_once_tool(counter))
    ctx = ToolContext(user=user)
    first = await p.call(ToolCallRequest("charge", '{"amount": 5}', "call_a", idempotency_key="k1"), ctx)
    second = await p.call(ToolCallRequest("charge", '{"amount": 5}', "call_b", idempotency_key="k1"), ctx)
    assert counter.calls == 1
    assert first.output == second.output == {"charged": 5, "n": 1}
    assert second.record_id == first.record_id
    assert (first.call_id, second.call_id) == ("call_a", "call_b")  # each result keeps its own id
    assert await ToolCall.objects.acount() == 1


async def test_concurrent_calls_with_the_same_idempotency_key_run_the_tool_once(user):
    counter = Counter()
    p = pipeline(_once_tool(counter))
    ctx = ToolContext(user=user)
    results = await asyncio.gather(*(
        p.call(ToolCallRequest("charge", '{"amount": 7}', f"call_{i}", idempotency_key="race"), ctx)
        for i in range(4)
    ))
    assert counter.calls == 1
    assert [r.status for r in results] == ["ok"] * 4
    assert all(r.output == {"charged": 7, "n": 1} for r in results)
    assert [r.call_id for r in results] == ["call_0", "call_1", "call_2", "call_3"]
    assert await ToolCall.objects.acount() == 1


async def test_idempotency_keys_are_per_user(user, other_user):
    counter = Counter()
    p = pipeline(_once_tool(counter))
    mine = await p.call(ToolCallRequest("charge", '{"amount": 1}', idempotency_key="k"),
                        ToolContext(user=user))
    theirs = await p.call(ToolCallRequest("charge", '{"amount": 2}', idempotency_key="k"),
                          ToolContext(user=other_user))
    assert counter.calls == 2 and theirs.output["charged"] == 2 and mine.record_id != theirs.record_id


async def test_a_rejected_call_is_replayed_as_rejected(user):
    p = pipeline(add)
    ctx = ToolContext(user=user)
    first = await p.call(ToolCallRequest("add", '{"a": "x"}', idempotency_key="bad"), ctx)
    second = await p.call(ToolCallRequest("add", '{"a": 1}', idempotency_key="bad"), ctx)
    assert first.error.type is ErrorType.VALIDATION_ERROR and second.error.type is ErrorType.VALIDATION_ERROR
    assert second.record_id == first.record_id
