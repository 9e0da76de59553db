"""extract(): each way of asking for JSON, through the real SDKs against the fake server."""

from __future__ import annotations

import json

import pytest

from assistant.extraction.examples import Order
from assistant.extraction.models import Extraction
from assistant.extraction.service import (
    DEMO_NOTICE,
    ExtractionInvalid,
    ExtractionProviderError,
    ExtractionRefused,
    aextract,
)
from assistant.models import UserBudget
from assistant.ops import budgets
from tests.assistant.extraction.support import FREE_FORM, Person, use_extraction_profiles
from tests.fakes.scripts import call, error, refusal, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada", "age": 36, "email": None}


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_extraction_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


async def test_openai_gets_a_strict_json_schema_and_the_result_is_validated_and_recorded(fake, user):
    fake.script_openai(text(json.dumps(ADA), chunks=3).with_usage(40, 9))
    result = await aextract(Person, "Ada, 36, no email", profile="fake-openai", user=user)
    assert result.data == ADA and result.value == Person(name="Ada", age=36)
    body = fake.last_body
    assert body["response_format"]["type"] == "json_schema"
    sent = body["response_format"]["json_schema"]
    assert sent["name"] == "person" and sent["strict"] is True
    assert sent["schema"]["required"] == ["name", "age", "email"]  # strict: every key, optional ones nullable
    assert sent["schema"]["additionalProperties"] is False
    assert body["messages"][-1] == {"role": "user", "content": "Ada, 36, no email"}
    record = await Extraction.objects.aget(pk=result.extraction.pk)
    assert (record.status, record.mode, record.attempts) == ("succeeded", "json_schema_strict", 1)
    assert (record.input_tokens, record.output_tokens) == (40, 9) and record.user_id == user.pk
    assert record.result == ADA and record.schema_name == "person" and len(record.schema_hash) == 64
    assert result.notice is None


async def test_a_schema_strict_mode_cannot_express_uses_json_mode_with_the_schema_in_the_prompt(fake):
    fake.script_openai(text('{"title": "t", "labels": {"a": "b"}}'))
    result = await aextract(FREE_FORM, "t with label a=b", profile="fake-openai")
    assert result.data == {"title": "t", "labels": {"a": "b"}}
    body = fake.last_body
    assert body["response_format"] == {"type": "json_object"}
    assert json.dumps(FREE_FORM) in body["messages"][0]["content"]  # the system prompt
    assert result.extraction.mode == "json_object"


async def test_an_invalid_answer_goes_back_with_its_errors_and_the_correction_is_accepted(fake):
    fake.script_openai(text('{"name": "Ada", "age": "thirty-six", "email": null}'), text(json.dumps(ADA)))
    result = await aextract(Person, "Ada is thirty-six", profile="fake-openai")
    assert result.data == ADA and result.extraction.attempts == 2
    second = fake.bodies()[1]["messages"]
    assert second[-2] == {"role": "assistant",
                          "content": '{"name": "Ada", "age": "thirty-six", "email": null}'}
    assert second[-1]["role"] == "user" and '"path": "age"' in second[-1]["content"]
    assert "must be a valid integer" in second[-1]["content"]


async def test_malformed_json_is_corrected_like_any_invalid_answer(fake):
    fake.script_openai(text('{"name": "Ada", "age": 3'), text(json.dumps(ADA)))
    result = await aextract(Person, "Ada, 36", profile="fake-openai")
    assert result.data == ADA
    assert "not valid JSON" in fake.bodies()[1]["messages"][-1]["content"]


async def test_corrections_run_out_with_a_clear_error_that_keeps_the_last_output(fake):
    wrong = ['{"name": "Ada"}', '{"name": "Ada", "age": -1, "extra": 1}', '{"age": 36}']
    fake.script_openai(*(text(w) for w in wrong))
    with pytest.raises(ExtractionInvalid) as caught:
        await aextract(Person, "Ada", profile="fake-openai", max_corrections=2)
    error = caught.value
    assert error.last_output == '{"age": 36}'
    assert error.message == ("The model's answer did not match the schema 'person' after 3 attempts: "
                             "name is required")
    assert len(fake.requests) == 3
    record = await Extraction.objects.aget(pk=error.extraction.pk)
    assert (record.status, record.attempts, record.last_output) == ("invalid", 3, '{"age": 36}')
    assert record.errors == [{"path": "name", "problem": "is required"}] and record.result is None


async def test_extra_keys_are_refused_not_silently_dropped(fake):
    fake.script_openai(text('{"name": "Ada", "age": 36, "is_admin": true}'))
    with pytest.raises(ExtractionInvalid) as caught:
        await aextract(Person, "Ada", profile="fake-openai", max_corrections=0)
    assert caught.value.errors[0]["path"] == "is_admin"
    assert caught.value.errors[0]["problem"] == "is not an accepted argument"


async def test_a_refusal_is_reported_as_such_and_recorded(fake):
    fake.script_openai(refusal("I can't help with extracting that.", chunks=2))
    with pytest.raises(ExtractionRefused) as caught:
        await aextract(Person, "something awful", profile="fake-openai")
    assert caught.value.refusal == "I can't help with extracting that."
    assert caught.value.code == "extraction_refused" and len(fake.requests) == 1  # no correction
    record = await Extraction.objects.aget(pk=caught.value.extraction.pk)
    assert (record.status, record.last_output) == ("refused", "I can't help with extracting that.")


async def test_anthropic_is_asked_with_a_forced_tool_call(fake):
    fake.script_anthropic(tool_calls(call("person", ADA, id="toolu_1")))
    result = await aextract(Person, "Ada, 36", profile="fake-anthropic")
    assert result.data == ADA and result.extraction.mode == "tool"
    body = fake.last_body
    assert body["tool_choice"] == {"type": "tool", "name": "person"}
    assert [t["name"] for t in body["tools"]] == ["person"]
    assert body["tools"][0]["input_schema"]["properties"].keys() == {"name", "age", "email"}


async def test_anthropic_corrections_go_back_as_an_error_tool_result(fake):
    fake.script_anthropic(tool_calls(call("person", {"name": "Ada"}, id="toolu_1")),
                          tool_calls(call("person", ADA, id="toolu_2")))
    result = await aextract(Person, "Ada, 36", profile="fake-anthropic")
    assert result.data == ADA and result.extraction.attempts == 2
    second = fake.bodies()[1]
    assert second["messages"][1]["content"][0]["type"] == "tool_use"
    (feedback,) = second["messages"][2]["content"]
    assert feedback["type"] == "tool_result" and feedback["is_error"] is True
    assert feedback["tool_use_id"] == "toolu_1" and '"path": "age"' in feedback["content"]
    assert second["tool_choice"] == {"type": "tool", "name": "person"}


async def test_the_responses_api_gets_a_strict_text_format(fake):
    fake.script_responses(text(json.dumps(ADA)))
    result = await aextract(Person, "Ada, 36", profile="fake-responses")
    assert result.data == ADA
    fmt = fake.last_body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "person", True)


async def test_the_responses_api_reports_a_refusal(fake):
    fake.script_responses(refusal("No."))
    with pytest.raises(ExtractionRefused):
        await aextract(Person, "Ada", profile="fake-responses")


async def test_a_compatible_server_in_json_object_mode_gets_json_mode(fake):
    fake.script_openai(text(json.dumps(ADA)))
    result = await aextract(Person, "Ada, 36", profile="compat-object")
    assert result.data == ADA and fake.last_body["response_format"] == {"type": "json_object"}
    assert result.extraction.mode == "json_object"


async def test_a_compatible_server_in_tool_mode_gets_a_named_tool_choice(fake):
    fake.script_openai(tool_calls(call("person", ADA, id="call_1")))
    result = await aextract(Person, "Ada, 36", profile="compat-tool")
    assert result.data == ADA
    body = fake.last_body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "person"}}
    assert "response_format" not in body


async def test_prompt_mode_sends_no_format_and_accepts_fenced_json(fake):
    fake.script_openai(text("```json\n" + json.dumps(ADA) + "\n```"))
    result = await aextract(Person, "Ada, 36", profile="compat-prompt")
    assert result.data == ADA
    body = fake.last_body
    assert "response_format" not in body and "tools" not in body
    assert '"required": ["name", "age"]' in body["messages"][0]["content"]


async def test_a_provider_failure_is_an_error_and_is_recorded(fake):
    fake.script_openai(error(500))
    with pytest.raises(ExtractionProviderError) as caught:
        await aextract(Person, "Ada", profile="fake-openai")
    assert caught.value.kind == "server_error" and "HTTP 500" in caught.value.message
    record = await Extraction.objects.aget(pk=caught.value.extraction.pk)
    assert (record.status, record.error_code, record.attempts) == ("failed", "provider_server_error", 1)


async def test_an_exhausted_budget_refuses_before_any_request_and_records_nothing(fake, user):
    await UserBudget.objects.acreate(user=user, daily_tokens=10)
    fake.script_openai(text(json.dumps(ADA)).with_usage(8, 4))
    await aextract(Person, "Ada, 36", profile="fake-openai", user=user)
    assert await sync_used(user) == 12
    with pytest.raises(budgets.BudgetExceeded):
        await aextract(Person, "Ada, 36", profile="fake-openai", user=user)
    assert len(fake.requests) == 1 and await Extraction.objects.acount() == 1


async def test_the_demo_fills_a_registered_schema_and_says_it_is_not_a_model():
    text_in = "customer: Alice Smith\nitems: 2 x blue widget, 1 x gadget\ndelivery date: 2025-03-14"
    result = await aextract(Order, text_in, profile="demo")
    assert result.data == {"customer": "Alice Smith", "delivery_date": "2025-03-14", "items": [
        {"product": "blue widget", "quantity": 2}, {"product": "gadget", "quantity": 1}]}
    assert result.notice == DEMO_NOTICE and "not a language model" in result.notice
    assert result.extraction.provider == "demo"


async def sync_used(user):
    from asgiref.sync import sync_to_async

    return await sync_to_async(budgets.used_today)(user)


class Exploding:
    """A provider with a bug: its stream raises something that is not a ProviderError."""

    name = "exploding"

    async def stream(self, request):
        raise RuntimeError("adapter bug")
        yield  # pragma: no cover - makes this an async generator

    def payload(self, request):
        return {}


async def test_a_bug_mid_extraction_closes_the_record_as_failed_and_propagates():
    with pytest.raises(RuntimeError, match="adapter bug"):
        await aextract(Person, "Ada", profile="demo", provider=Exploding())
    record = await Extraction.objects.aget()
    assert (record.status, record.error_code) == ("failed", "internal_error")
    assert record.error == "RuntimeError: adapter bug" and record.finished_at is not None


async def test_a_cancelled_extraction_is_closed_as_cancelled(fake):
    import asyncio

    fake.script_openai(text(json.dumps(ADA)).delayed(first=5))
    task = asyncio.ensure_future(aextract(Person, "Ada", profile="fake-openai"))
    while not fake.requests:  # noqa: ASYNC110 - filled by the server's thread
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await Extraction.objects.aget()
    assert (record.status, record.error_code) == ("failed", "cancelled")


def test_a_record_is_closed_only_once(db):
    record = Extraction.objects.create(schema_name="x", schema={}, schema_hash="h", profile="p", provider="p",
                                       model="m", mode="prompt", text_sha256="t")
    record.finish("succeeded", result={"a": 1})
    with pytest.raises(RuntimeError, match="already finished"):
        Extraction.objects.get(pk=record.pk).finish("failed")
    assert Extraction.objects.get(pk=record.pk).status == "succeeded"
