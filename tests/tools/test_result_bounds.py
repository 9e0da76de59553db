"""Every result is bounded in total before it is stored, cached or shown (issue 10.3).

``TOOLS_MAX_RESULT_BYTES`` caps a result's JSON as the database, the model and the browser
get it, the truncation marker included; and a tool that returns something huge is cut
without the pipeline building copies of it.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from tests.tools.pipeline_helpers import pipeline, req
from tools import tool
from tools.models import ToolCall
from tools.pipeline import MAX_ERROR_CHARS

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = "x" * 50_000_000  # built once, before any measurement: the tool's own output
QUOTES = '"' * 9_000  # 18,002 characters of JSON, but twice that in bytes once escaped again


@tool
def huge() -> dict:
    """Return a 50 MB text."""
    return {"text": HUGE}


@tool
def quotes() -> str:
    """Return text that doubles when escaped."""
    return QUOTES


@tool
def loud_failure() -> str:
    """Fail with a 5 MB message."""
    raise RuntimeError("y" * 5_000_000)


def stored_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


async def test_a_huge_result_is_cut_without_the_pipeline_copying_it(user, settings):
    settings.TOOLS_MAX_RESULT_BYTES = 100_000
    gc.collect()
    tracemalloc.start()
    try:
        result = await pipeline(huge).call(req("huge", {}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.truncated
    assert result.output["truncated"] is True and result.output["total_chars"] == len(HUGE) + 11
    assert result.output["content"].startswith('{"text":"xxx')
    assert peak < 10_000_000, f"the pipeline allocated {peak:,} bytes for a 50 MB result"
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.truncated and stored_size(row.result) <= 100_000
    assert len(result.content().encode()) <= 100_000


async def test_the_byte_cap_bounds_results_that_fit_in_characters(user, settings):
    settings.TOOLS_MAX_RESULT_CHARS = 20_000
    settings.TOOLS_MAX_RESULT_BYTES = 10_000
    result = await pipeline(quotes).call(req("quotes", {}))
    assert result.truncated and result.output["total_chars"] == 2 * len(QUOTES) + 2
    assert stored_size(result.output) <= 10_000
    assert len(result.content().encode()) <= 10_000
    assert result.output["content"].endswith(" characters]")
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert stored_size(row.result) <= 10_000


async def test_a_huge_error_message_is_cut_with_a_marker(user):
    result = await pipeline(loud_failure).call(req("loud_failure", {}))
    assert result.error.type == "execution_error"
    assert len(result.error.message) <= MAX_ERROR_CHARS + 40
    assert result.error.message.startswith("loud_failure failed: RuntimeError: yyy")
    assert result.error.message.endswith(" characters]")
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert len(row.error["message"]) == len(result.error.message)
