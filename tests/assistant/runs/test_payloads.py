"""The shapes a run's events carry (assistant/runs/payloads.py; docs/protocol.md)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from assistant.models import Message, Run
from assistant.runs.payloads import message_payload, result_payload, run_payload, tool_result_part
from tools.errors import ErrorType, ToolError
from tools.pipeline import ToolResult

WHEN = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_a_message_says_which_profile_answered_only_when_a_fallback_did():
    message = Message(id=uuid.uuid4(), role="assistant", content="hi", status="complete", created_at=WHEN)
    assert message_payload(message) == {"id": str(message.pk), "role": "assistant", "content": "hi",
                                        "status": "complete", "created_at": WHEN.isoformat()}
    message.profile, message.profile_label = "backup", "Backup model"
    message.answered_by = {"name": "backup", "label": "Backup model"}
    body = message_payload(message)
    assert body["profile"] == {"name": "backup", "label": "Backup model"}
    assert body["answered_by"] == {"name": "backup", "label": "Backup model", "fallback": True}


def test_a_run_carries_its_usage_and_an_error_only_when_it_has_one():
    run = Run(id=uuid.uuid4(), status="completed", steps=2, input_tokens=10, output_tokens=5)
    assert run_payload(run) == {"id": str(run.pk), "status": "completed", "steps": 2,
                                "usage": {"input_tokens": 10, "output_tokens": 5}}
    run.status, run.error_code, run.error = "failed", "provider_error", "The provider failed."
    assert run_payload(run)["error"] == {"code": "provider_error", "message": "The provider failed."}


def test_a_result_carries_its_output_or_its_error_never_both():
    ok = ToolResult(call_id="c1", name="calculator", status="ok", output={"value": 4}, duration_ms=1.234,
                    record_id=7)
    assert result_payload(ok) == {"id": "c1", "name": "calculator", "status": "ok", "duration_ms": 1.23,
                                  "result": {"value": 4}, "record_id": 7}
    failed = ToolResult(call_id="c2", name="calculator", status="error",
                        error=ToolError(ErrorType.EXECUTION_ERROR, "division by zero"))
    body = result_payload(failed)
    assert "result" not in body and "record_id" not in body
    assert body["error"]["type"] == "execution_error" and body["error"]["message"] == "division by zero"


def test_the_models_history_part_is_the_results_content_marked_as_an_error_when_it_failed():
    failed = ToolResult(call_id="c2", name="calculator", status="error",
                        error=ToolError(ErrorType.EXECUTION_ERROR, "division by zero"))
    part = tool_result_part(failed)
    assert (part["call_id"], part["name"], part["is_error"]) == ("c2", "calculator", True)
    assert json.loads(part["content"])["error"]["message"] == "division by zero"
    assert tool_result_part(ToolResult(call_id="c1", name="t", status="ok", output="x"))["is_error"] is False
