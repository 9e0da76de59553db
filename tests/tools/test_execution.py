"""Tool bodies run off the event loop, under a timeout, with retries and concurrency limits."""

import asyncio
import contextlib
import threading
import time

import pytest

from tests.tools.pipeline_helpers import Counter, pipeline, req
from tools import Retry, ToolContext, TransientToolError, tool
from tools.errors import ErrorType, ToolTimeout
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

FAST = Retry(attempts=3, base_delay=0.001, max_delay=0.002)


# -- threads and timeouts ---------------------------------------------------------------------


async def test_sync_tools_run_on_a_worker_thread_not_the_event_loop(user):
    @tool
    def where() -> int:
        """Which thread am I on."""
        return threading.get_ident()

    result = await pipeline(where).call(req("where"), ToolContext(user=user))
    assert result.output != threading.get_ident()


async def test_a_stuck_sync_tool_times_out_without_blocking_the_event_loop(user):
    release = threading.Event()

    @tool(timeout=0.3)
    def stuck() -> str:
        """Never finishes on time."""
        while not release.is_set():
            time.sleep(0.01)
        return "too late"

    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        result = await asyncio.wait_for(pipeline(stuck).call(req("stuck"), ToolContext(user=user)), 10)
    finally:
        beat.cancel()
        release.set()
    assert result.status == "error" and result.error.type is ErrorType.TIMEOUT
    assert result.error.message == "stuck did not finish within 0.3 s"
    assert ticks >= 5  # the loop kept running while the tool's thread slept
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.FAILED and row.error_type == "timeout"


async def test_a_slow_async_tool_times_out(user):
    @tool(timeout=0.1)
    async def dawdle() -> None:
        """Slow."""
        await asyncio.sleep(30)

    result = await asyncio.wait_for(pipeline(dawdle).call(req("dawdle"), ToolContext(user=user)), 10)
    assert result.error.type is ErrorType.TIMEOUT


async def test_the_default_timeout_comes_from_settings(user, settings):
    settings.TOOLS_DEFAULT_TIMEOUT = 0.1

    @tool
    async def dawdle() -> None:
        """Slow."""
        await asyncio.sleep(30)

    result = await asyncio.wait_for(pipeline(dawdle).call(req("dawdle"), ToolContext(user=user)), 10)
    assert result.error.message == "dawdle did not finish within 0.1 s"


async def test_a_timeout_error_raised_by_the_tool_itself_is_not_reported_as_running_out_of_time(user):
    @tool(timeout=5)
    def upstream() -> None:
        """Talks to a slow upstream."""
        raise TimeoutError("the upstream did not answer")

    result = await pipeline(upstream).call(req("upstream"), ToolContext(user=user))
    assert result.error.type is ErrorType.EXECUTION_ERROR
    assert result.error.message == "upstream failed: TimeoutError: the upstream did not answer"


# -- retries --------------------------------------------------------------------------------


async def test_transient_errors_are_retried_until_success(user):
    counter = Counter()

    @tool(retry=FAST)
    def flaky() -> str:
        """Flaky upstream."""
        counter.enter()
        counter.exit()
        if counter.calls < 3:
            raise TransientToolError("upstream busy")
        return "ok"

    result = await pipeline(flaky).call(req("flaky"), ToolContext(user=user))
    assert result.output == "ok" and result.attempts == 3 and counter.calls == 3
    assert (await ToolCall.objects.aget(pk=result.record_id)).attempts == 3


async def test_retries_stop_after_the_policy_attempts(user):
    counter = Counter()

    @tool(retry=FAST)
    async def down() -> None:
        """Always busy."""
        counter.enter()
        counter.exit()
        raise ConnectionError("refused")

    result = await pipeline(down).call(req("down"), ToolContext(user=user))
    assert result.error.type is ErrorType.EXECUTION_ERROR and counter.calls == 3 and result.attempts == 3


async def test_non_transient_errors_are_not_retried_whatever_their_message(user):
    counter = Counter()

    @tool(retry=FAST)
    def picky() -> None:
        """Fails permanently."""
        counter.enter()
        counter.exit()
        raise ValueError("service temporarily unavailable, please retry")

    result = await pipeline(picky).call(req("picky"), ToolContext(user=user))
    assert counter.calls == 1 and result.attempts == 1
    assert result.error.message == "picky failed: ValueError: service temporarily unavailable, please retry"


async def test_timeouts_are_retried_only_when_the_policy_lists_them(user):
    counter = Counter()

    @tool(timeout=0.05, retry=Retry(attempts=2, base_delay=0.001, on=(ToolTimeout,)))
    async def sleepy() -> None:
        """Slow."""
        counter.enter()
        counter.exit()
        await asyncio.sleep(30)

    @tool(timeout=0.05, retry=FAST)
    async def sleepy_once() -> None:
        """Slow."""
        counter.enter()
        counter.exit()
        await asyncio.sleep(30)

    p = pipeline(sleepy, sleepy_once)
    assert (await p.call(req("sleepy"), ToolContext(user=user))).attempts == 2
    assert (await p.call(req("sleepy_once"), ToolContext(user=user))).attempts == 1
    assert counter.calls == 3


async def test_retries_wait_the_policy_backoff_between_attempts(user, monkeypatch):
    waits: list[float] = []
    retry = Retry(attempts=4, base_delay=0.001, max_delay=0.004)
    original = Retry.delay

    def recording_delay(self, attempt):
        value = original(self, attempt)
        waits.append((attempt, value))
        return value

    monkeypatch.setattr(Retry, "delay", recording_delay)

    @tool(retry=retry)
    def never() -> None:
        """Never works."""
        raise TransientToolError("busy")

    await pipeline(never).call(req("never"), ToolContext(user=user))
    assert [a for a, _ in waits] == [1, 2, 3]  # no wait after the last attempt
    assert all(0 <= w <= min(0.004, 0.001 * 2 ** (a - 1)) for a, w in waits)


# -- concurrency ----------------------------------------------------------------------------


def _slow_counter_tool(counter: Counter, hold_until_peak: int = 0, **options):
    """``hold_until_peak``: each call waits (up to 5 s) until that many have been in flight at
    once, so that a limit of N is shown to be reached however slowly the machine starts the
    calls (recording them on PostgreSQL is slower than the 20 ms a call takes), while a
    broken limit still shows as a peak above N."""
    reached = asyncio.Event()

    @tool(**options)
    async def work(n: int) -> int:
        """Work a little."""
        counter.enter()
        try:
            if counter.peak >= hold_until_peak:
                reached.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reached.wait(), 5)
            await asyncio.sleep(0.02)
            if n == 3:
                raise RuntimeError("item 3 is broken")
            return n * 10
        finally:
            counter.exit()

    return work


async def test_call_many_never_runs_more_than_the_limit_at_once(user):
    counter = Counter()
    p = pipeline(_slow_counter_tool(counter, hold_until_peak=3))
    requests = [req("work", {"n": i}, call_id=f"id-{i}") for i in range(12)]
    await p.call_many(requests, ToolContext(user=user), max_concurrency=3)
    assert counter.calls == 12 and counter.peak == 3


async def test_call_many_keeps_order_and_ids_and_one_failure_does_not_abort_the_rest(user):
    counter = Counter()
    p = pipeline(_slow_counter_tool(counter))
    requests = [req("work", {"n": i}, call_id=f"id-{i}") for i in range(6)]
    requests.insert(2, req("missing", "{}", call_id="id-missing"))
    results = await p.call_many(requests, ToolContext(user=user), max_concurrency=2)
    assert [r.call_id for r in results] == ["id-0", "id-1", "id-missing", "id-2", "id-3", "id-4", "id-5"]
    assert [r.status for r in results] == ["ok", "ok", "error", "ok", "error", "ok", "ok"]
    assert results[2].error.type is ErrorType.UNKNOWN_TOOL
    assert results[4].error.message == "work failed: RuntimeError: item 3 is broken"
    assert [r.output for r in results if r.ok] == [0, 10, 20, 40, 50]


async def test_call_many_defaults_to_the_concurrency_setting(user, settings):
    settings.TOOLS_MAX_CONCURRENCY = 2
    counter = Counter()
    p = pipeline(_slow_counter_tool(counter, hold_until_peak=2), record=False)
    await p.call_many([req("work", {"n": i}) for i in range(8)], ToolContext(user=user))
    assert counter.peak == 2


async def test_a_tool_max_concurrency_bounds_it_across_callers(user):
    counter = Counter()
    p = pipeline(_slow_counter_tool(counter, hold_until_peak=2, max_concurrency=2), record=False)
    await asyncio.gather(*(p.call(req("work", {"n": 0}), ToolContext(user=user)) for _ in range(8)))
    assert counter.calls == 8 and counter.peak == 2


async def test_sync_tools_also_respect_the_batch_limit(user):
    counter = Counter()

    @tool
    def block(n: int) -> int:
        """Block a little."""
        counter.enter()
        time.sleep(0.02)
        counter.exit()
        return n

    results = await pipeline(block, record=False).call_many(
        [req("block", {"n": i}) for i in range(9)], ToolContext(user=user), max_concurrency=3)
    assert [r.output for r in results] == list(range(9)) and counter.peak <= 3
