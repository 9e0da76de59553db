"""``manage.py extract --schema ...`` reading standard input and printing the JSON."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from assistant.extraction.models import Extraction
from tests.assistant.extraction.support import use_extraction_profiles
from tests.fakes.scripts import text

pytestmark = pytest.mark.django_db(transaction=True)


def run(monkeypatch, stdin: str, *args: str) -> tuple[str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    call_command("extract", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_json_schema_file_and_stdin_give_the_json_on_stdout(monkeypatch, tmp_path):
    path = tmp_path / "book.json"
    path.write_text(json.dumps({"type": "object", "properties": {"title": {"type": "string"},
                                                                 "pages": {"type": "integer"}},
                                "required": ["title", "pages"]}))
    out, err = run(monkeypatch, "title: Dune\npages: 412\n", "--schema", str(path), "--profile", "demo")
    assert json.loads(out) == {"title": "Dune", "pages": 412}
    assert "not a language model" in err
    record = Extraction.objects.get()
    assert (record.source, record.schema_name, record.status) == ("command", "book", "succeeded")


def test_a_registered_name_and_module_attr_both_work(monkeypatch):
    out, _ = run(monkeypatch, "name: Ada\n", "--schema", "contact", "--profile", "demo")
    assert json.loads(out)["name"] == "Ada"
    out, _ = run(monkeypatch, "name: Ada\n", "--schema", "assistant.extraction.examples:Contact",
                 "--profile", "demo")
    assert json.loads(out)["name"] == "Ada"


def test_a_real_sdk_call_through_the_command(monkeypatch, fake_llm, settings):
    use_extraction_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(text('{"name": "Ada", "email": null, "phone": null, "company": "ACME"}'))
    out, err = run(monkeypatch, "Ada from ACME", "--schema", "contact", "--profile", "fake-openai")
    assert json.loads(out)["company"] == "ACME" and err == ""
    assert fake_llm.last_body["response_format"]["json_schema"]["name"] == "contact"


def test_an_invalid_answer_exits_with_the_error_and_the_last_output(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("nothing useful"))
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("extract", "--schema", "contact", "--profile", "demo", stderr=err)
    assert "did not match the schema 'contact' after 3 attempts: name is required" in str(caught.value)
    assert 'last output: {"email": null, "phone": null, "company": null}' in err.getvalue()
    assert Extraction.objects.get().status == "invalid"


@pytest.mark.parametrize(("schema", "message"), [
    ("missing.json", "cannot read the schema file missing.json"),
    ("nope", "the schema cannot be used: there is no registered schema named 'nope'"),
    ("os:path", "the schema cannot be used: cannot extract into"),
])
def test_a_bad_schema_is_a_clear_error(monkeypatch, schema, message):
    with pytest.raises(CommandError) as caught:
        run(monkeypatch, "x", "--schema", schema)
    assert str(caught.value).startswith(message)
    assert not Extraction.objects.exists()


def test_empty_stdin_is_refused(monkeypatch):
    with pytest.raises(CommandError, match="no text on standard input"):
        run(monkeypatch, "  \n", "--schema", "contact")
