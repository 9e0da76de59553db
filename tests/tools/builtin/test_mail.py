"""send_email: a message goes out as asked, and nothing goes out when the request is unsafe."""

from __future__ import annotations

import pytest
from django.core import mail

from tools import ArgumentError
from tools.builtin.mail import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, send_email
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "toolgate@example.org"
    settings.TOOLS_EMAIL_MAX_RECIPIENTS = 3


def send(to: list[str], subject: str = "Hello", body: str = "Hi there.") -> dict:
    return send_email(to=to, subject=subject, body=body)


def test_email_is_sent_from_the_configured_sender(settings):
    result = send(["sam@example.com", "jo@example.co.uk"], "Meeting moved", "It is at 3 pm now.")
    assert result == {"sent": True, "to": ["sam@example.com", "jo@example.co.uk"], "subject": "Meeting moved"}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.from_email == "toolgate@example.org"
    assert message.to == ["sam@example.com", "jo@example.co.uk"]
    assert (message.subject, message.body) == ("Meeting moved", "It is at 3 pm now.")
    assert message.cc == [] and message.bcc == []


def test_duplicate_recipients_get_one_copy():
    assert send(["sam@example.com", "sam@example.com"])["to"] == ["sam@example.com"]
    assert mail.outbox[0].to == ["sam@example.com"]


def test_multi_line_body_is_kept_as_written():
    send(["sam@example.com"], body="Line one\r\nBcc: not-a-header@example.com\n\nBye")
    assert mail.outbox[0].body == "Line one\r\nBcc: not-a-header@example.com\n\nBye"
    assert mail.outbox[0].bcc == []


@pytest.mark.parametrize("subject", [
    "Hello\r\nBcc: victim@example.com",
    "Hello\nBcc: victim@example.com",
    "Hello\rBcc: victim@example.com",
    "Hello\x0bthere",
    "Hello\x00there",
    "Hello\u2028Bcc: victim@example.com",
    "Hello\x85there",
])
def test_header_injection_in_the_subject_is_refused_and_nothing_is_sent(subject):
    with pytest.raises(ArgumentError, match="line break or control character") as info:
        send(["sam@example.com"], subject=subject)
    assert info.value.path == "subject"
    assert mail.outbox == []


@pytest.mark.parametrize("address", [
    "sam@example.com\r\nBcc: victim@example.com",
    "sam@example.com\nBcc: victim@example.com",
    "Sam <sam@example.com>",
    "sam@example.com, victim@example.com",
    "sam@example.com;victim@example.com",
    "sam",
    "sam@",
    "@example.com",
    "sam@localhost",
    "sam@example",
    "sam@@example.com",
    "sam..x@example.com",
    ".sam@example.com",
    "sam@-example.com",
    "sam@example..com",
    '"sam"@example.com',
    "sam@[127.0.0.1]",
    " sam@example.com",
    "sam@exämple.com",
    "x" * 65 + "@example.com",
    "",
])
def test_malformed_or_smuggling_addresses_are_refused_and_nothing_is_sent(address):
    with pytest.raises(ArgumentError, match="is not a valid email address") as info:
        send(["ok@example.com", address])
    assert info.value.path == "to.1"
    assert mail.outbox == []


def test_display_name_gets_a_hint_to_send_only_the_address():
    with pytest.raises(ArgumentError) as info:
        send(["Sam <sam@example.com>"])
    assert "no name, no angle brackets" in info.value.hint


@pytest.mark.parametrize("address", [
    "sam@example.com", "sam.o'brien+news@mail.example.co.uk", "a@b.io", "first_last-1@sub-domain.example.org",
])
def test_plain_valid_addresses_are_accepted(address):
    assert send([address])["to"] == [address]


def test_too_many_recipients_are_refused_and_nothing_is_sent():
    with pytest.raises(ArgumentError, match="4 recipients; at most 3 are allowed"):
        send([f"user{i}@example.com" for i in range(4)])
    assert mail.outbox == []


def test_recipient_limit_follows_settings(settings):
    settings.TOOLS_EMAIL_MAX_RECIPIENTS = 1
    with pytest.raises(ArgumentError, match="at most 1 are allowed"):
        send(["a@example.com", "b@example.com"])
    assert send(["a@example.com"])["sent"] is True


@pytest.mark.parametrize(("field", "value", "message"), [
    ("subject", "   ", "subject is empty"),
    ("body", "\n\t ", "body is empty"),
    ("subject", "x" * (MAX_SUBJECT_CHARS + 1), f"the limit is {MAX_SUBJECT_CHARS}"),
    ("body", "x" * (MAX_BODY_CHARS + 1), f"the limit is {MAX_BODY_CHARS}"),
])
def test_blank_or_oversized_subject_and_body_are_refused(field, value, message):
    arguments = {"to": ["sam@example.com"], "subject": "Hi", "body": "Text", field: value}
    with pytest.raises(ArgumentError, match=message):
        send_email(**arguments)
    assert mail.outbox == []


def test_empty_recipient_list_is_refused():
    with pytest.raises(ArgumentError, match="to is empty"):
        send([])
    assert mail.outbox == []


def test_send_email_is_high_risk_and_not_read_only():
    assert (str(send_email.risk), send_email.read_only) == ("high", False)


# -- through the pipeline ---------------------------------------------------------------


@pytest.fixture
def pipeline() -> Pipeline:
    registry = Registry()
    registry.register(send_email)
    return Pipeline(registry, gate=None)


@pytest.mark.django_db(transaction=True)
async def test_pipeline_sends_one_message(pipeline):
    result = await pipeline.call(ToolCallRequest(
        "send_email", '{"to": ["sam@example.com"], "subject": "Hi", "body": "Hello Sam"}'))
    assert result.status == "ok", result.error
    assert result.output == {"sent": True, "to": ["sam@example.com"], "subject": "Hi"}
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]


@pytest.mark.django_db(transaction=True)
async def test_pipeline_reports_header_injection_as_a_validation_error(pipeline):
    result = await pipeline.call(ToolCallRequest("send_email", {
        "to": ["sam@example.com"], "subject": "Hi\r\nBcc: victim@example.com", "body": "Hello"}))
    assert result.status == "error"
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert result.error.details[0]["path"] == "subject"
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
async def test_pipeline_schema_rejects_an_oversized_subject_before_running(pipeline):
    result = await pipeline.call(ToolCallRequest("send_email", {
        "to": ["sam@example.com"], "subject": "x" * (MAX_SUBJECT_CHARS + 1), "body": "Hello"}))
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert result.attempts == 0
    assert mail.outbox == []
