"""Rate limits count calls per user and per tool, in fixed windows kept in the cache."""

import asyncio

import pytest

from tests.tools.pipeline_helpers import pipeline, req
from tools import ToolContext, tool
from tools.definition import RateLimit
from tools.errors import ErrorType
from tools.models import ToolCall
from tools.ratelimit import acquire


async def test_acquire_allows_up_to_the_count_then_says_how_long_to_wait():
    limit = RateLimit(2, 60)
    assert await acquire("t", 1, limit) is None
    assert await acquire("t", 1, limit) is None
    wait = await acquire("t", 1, limit)
    assert wait is not None and 0 < wait <= 60


async def test_acquire_counts_users_and_tools_separately():
    limit = RateLimit(1, 60)
    assert await acquire("t", 1, limit) is None
    assert await acquire("t", 2, limit) is None
    assert await acquire("u", 1, limit) is None
    assert await acquire("t", None, limit) is None  # anonymous callers share one bucket
    assert await acquire("t", None, limit) is not None
    assert await acquire("t", 1, limit) is not None


async def test_concurrent_acquires_cannot_all_slip_under_the_limit():
    limit = RateLimit(5, 60)
    waits = await asyncio.gather(*(acquire("busy", 1, limit) for _ in range(20)))
    assert sum(w is None for w in waits) == 5


@tool(rate_limit="2/m")
def ping() -> str:
    """Ping."""
    return "pong"


@tool(rate_limit="2/m")
def pong() -> str:
    """Pong."""
    return "ping"


@pytest.mark.django_db(transaction=True)
async def test_the_pipeline_rate_limits_per_user_per_tool(user, other_user):
    p = pipeline(ping, pong)
    mine = ToolContext(user=user)
    results = [await p.call(req("ping"), mine) for _ in range(3)]
    assert [r.status for r in results] == ["ok", "ok", "error"]
    limited = results[2].error
    assert limited.type is ErrorType.RATE_LIMITED
    assert limited.message == "ping may be called at most 2 times per 60 s"
    assert 0 < limited.extra["retry_after"] <= 60 and limited.hint.startswith("Wait ")
    row = await ToolCall.objects.aget(pk=results[2].record_id)
    assert row.status == ToolCall.Status.REJECTED and row.error_type == "rate_limited"
    assert (await p.call(req("ping"), ToolContext(user=other_user))).ok  # another user
    assert (await p.call(req("pong"), mine)).ok  # another tool


@pytest.mark.django_db(transaction=True)
async def test_invalid_calls_do_not_use_up_the_limit(user):
    p = pipeline(ping)
    ctx = ToolContext(user=user)
    for _ in range(3):
        assert (await p.call(req("ping", '{"x": 1}'), ctx)).error.type is ErrorType.VALIDATION_ERROR
    assert (await p.call(req("ping"), ctx)).ok
