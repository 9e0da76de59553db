"""Structured logs: the JSON format, the context ids, and how they reach threads and tools."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from assistant.ops.logging import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    current_context,
    log_context,
    log_format,
    log_level,
    logging_config,
)
from tests.assistant.runs.engine_helpers import Calls, make_engine, new_conversation, use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls
from tools import logcontext, tool
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

tool_logger = logging.getLogger("tests.ops.tool")


def record(message: str = "hello %s", args: tuple = ("world",), **extra) -> logging.LogRecord:
    rec = logging.LogRecord("tests.ops", logging.WARNING, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


# --- the formatter ------------------------------------------------------------------------


def test_a_record_becomes_one_json_line_with_timestamp_level_logger_and_message():
    line = JsonFormatter().format(record())
    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "WARNING" and body["logger"] == "tests.ops" and body["message"] == "hello world"
    assert body["timestamp"].endswith("Z")
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert "exception" not in body


def test_an_exception_is_written_as_its_traceback_inside_the_same_line():
    try:
        raise ValueError("bad value\nwith a second line")
    except ValueError:
        rec = logging.LogRecord("tests.ops", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    body = json.loads(line)
    assert body["message"] == "failed"
    assert body["exception"].startswith("Traceback") and "ValueError: bad value" in body["exception"]


def test_extra_fields_are_kept_and_values_json_cannot_encode_become_text():
    body = json.loads(JsonFormatter().format(record(status="completed", steps=2, when=object())))
    assert body["status"] == "completed" and body["steps"] == 2
    assert body["when"].startswith("<object object")


def test_extra_fields_cannot_overwrite_the_standard_ones():
    body = json.loads(JsonFormatter().format(record(level="forged", logger="forged")))
    assert body["level"] == "WARNING" and body["logger"] == "tests.ops"


def test_bound_ids_appear_in_order_and_end_with_their_block():
    with log_context(request_id="req-1"), log_context(run_id="run-9", conversation_id="c-3"):
        body = json.loads(JsonFormatter().format(record()))
        assert list(body)[4:7] == ["request_id", "conversation_id", "run_id"]
        assert (body["request_id"], body["run_id"], body["conversation_id"]) == ("req-1", "run-9", "c-3")
    assert current_context() == {}
    assert "run_id" not in json.loads(JsonFormatter().format(record()))


def test_the_filter_stamps_the_ids_of_the_thread_that_logged_not_of_the_one_that_formats():
    rec = record()
    with log_context(run_id="run-at-log-time"):
        ContextFilter().filter(rec)
    with log_context(run_id="run-at-format-time"):
        body = json.loads(JsonFormatter().format(rec))
    assert body["run_id"] == "run-at-log-time"


def test_the_text_format_appends_the_ids_for_people():
    with log_context(run_id="run-9"):
        line = TextFormatter().format(record())
    assert line.endswith("WARNING tests.ops: hello world [run_id=run-9]")


# --- configuration ------------------------------------------------------------------------


def test_json_is_the_default_in_production_and_text_in_development(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert log_format(debug=False) == "json"
    assert log_format(debug=True) == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert log_format(debug=True) == "json"


def test_a_bad_log_format_or_level_stops_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be one of json, text, got 'xml'"):
        log_format(debug=False)
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ImproperlyConfigured, match=r"LOG_LEVEL must be one of .*got 'LOUD'"):
        log_level()


def test_the_configured_root_handler_uses_the_chosen_formatter_and_the_context_filter(settings):
    assert settings.LOG_FORMAT == "json"  # tests run with DJANGO_DEBUG off
    config = logging_config("text", "DEBUG")
    assert config["handlers"]["console"] == {"class": "logging.StreamHandler", "formatter": "text",
                                             "filters": ["context"]}
    assert config["root"] == {"handlers": ["console"], "level": "DEBUG"}
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"


def test_the_installed_handler_writes_django_logs_once(json_logs):
    logging.getLogger("django.request").warning("once only")
    assert len(json_logs.with_message("once only")) == 1


# --- propagation --------------------------------------------------------------------------


async def test_a_sync_to_async_thread_inherits_the_ids(json_logs):
    def in_a_thread() -> None:
        tool_logger.info("from a worker thread")

    with log_context(run_id="run-thread"):
        await sync_to_async(in_a_thread)()
    [line] = json_logs.with_message("from a worker thread")
    assert line["run_id"] == "run-thread"


def _logging_registry() -> Registry:
    registry = Registry()

    @registry.tool
    def shout(word: str) -> str:
        """Shout a word (and log it).

        Args:
            word: The word.
        """
        tool_logger.info("shouting %s", word)
        return word.upper()

    @registry.tool
    async def whisper(word: str) -> str:
        """Whisper a word (and log it).

        Args:
            word: The word.
        """
        await asyncio.sleep(0)
        tool_logger.info("whispering %s", word)
        return word.lower()

    return registry


@pytest.mark.django_db(transaction=True)
async def test_a_sync_tool_log_line_carries_its_call_ids(json_logs, user):
    pipeline = Pipeline(_logging_registry(), gate=None)
    result = await pipeline.call(ToolCallRequest("shout", '{"word": "hi"}', call_id="call_shout_1"),
                                 ToolContext(user=user))
    assert result.status == "ok"
    [line] = json_logs.with_message("shouting hi")
    assert line["call_id"] == "call_shout_1" and line["tool"] == "shout"
    assert line["tool_call_id"] == result.record_id
    assert logcontext.current() == {}  # nothing left behind in the caller's context


@pytest.mark.django_db(transaction=True)
async def test_parallel_calls_each_log_their_own_ids(json_logs, user):
    pipeline = Pipeline(_logging_registry(), gate=None)
    requests = [ToolCallRequest("shout", '{"word": "a"}', call_id="call_a"),
                ToolCallRequest("whisper", '{"word": "B"}', call_id="call_b"),
                ToolCallRequest("shout", '{"word": "c"}', call_id="call_c")]
    results = await pipeline.call_many(requests, ToolContext(user=user))
    ids = {r.call_id: r.record_id for r in results}
    seen = {line["message"]: (line["call_id"], line["tool_call_id"])
            for line in json_logs.of("tests.ops.tool")}
    assert seen == {"shouting a": ("call_a", ids["call_a"]), "whispering B": ("call_b", ids["call_b"]),
                    "shouting c": ("call_c", ids["call_c"])}


@pytest.mark.django_db(transaction=True)
async def test_the_engine_logs_and_its_tools_logs_carry_the_run_id(json_logs, fake_llm, settings, monkeypatch,
                                                                   user):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="call_add_1")), text("5"))
    calls = Calls()
    engine = make_engine(calls)
    logged = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers, logging.

        Args:
            a: The first number.
            b: The second number.
        """
        tool_logger.info("adding")
        logged.append(a + b)
        return a + b

    engine.pipeline.registry.unregister("add")
    engine.pipeline.registry.register(add)
    convo = await new_conversation(user)
    run = await engine.send(convo, user, "add 2 and 3")
    assert run.status == "completed" and logged == [5]

    engine_lines = json_logs.of("assistant.runs.engine")
    assert [line["message"] for line in engine_lines] == ["run started", "run completed"]
    assert {line["run_id"] for line in engine_lines} == {str(run.pk)}
    assert {line["conversation_id"] for line in engine_lines} == {str(convo.pk)}
    assert engine_lines[-1]["steps"] == 2 and engine_lines[-1]["status"] == "completed"

    [tool_line] = json_logs.with_message("adding")
    record = await ToolCall.objects.aget(call_id="call_add_1")
    assert (tool_line["run_id"], tool_line["conversation_id"]) == (str(run.pk), str(convo.pk))
    ids = (tool_line["call_id"], tool_line["tool"], tool_line["tool_call_id"])
    assert ids == ("call_add_1", "add", record.pk)
