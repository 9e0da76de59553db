"""Schemas from models, functions and JSON Schema; the registry; the precise refusals."""

from __future__ import annotations

from typing import Annotated

import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import Field

from assistant.extraction import schemas
from assistant.extraction.examples import Contact
from tests.assistant.extraction.support import Person
from tools.validation import ValidationFailure


def test_a_pydantic_model_gives_a_closed_schema_named_after_it():
    schema = schemas.from_model(Person)
    assert schema.name == "person" and schema.description == "A person mentioned in the text."
    assert schema.schema["additionalProperties"] is False and schema.strict_ok
    assert schema.validate('{"name": "Ada", "age": 36}') == {"name": "Ada", "age": 36, "email": None}


def test_a_typed_function_signature_is_a_schema_too():
    def invoice(number: str, total: Annotated[float, Field(ge=0)], paid: bool = False) -> None:
        """An invoice.

        Args:
            number: The invoice number.
        """

    schema = schemas.from_function(invoice)
    assert schema.name == "invoice" and schema.schema["required"] == ["number", "total"]
    assert schema.schema["properties"]["number"]["description"] == "The invoice number."
    with pytest.raises(ValidationFailure) as caught:
        schema.validate('{"number": "A1", "total": -5}')
    assert caught.value.error.details[0]["path"] == "total"


def test_values_are_not_coerced():
    with pytest.raises(ValidationFailure):
        schemas.from_model(Person).validate('{"name": "Ada", "age": "36"}')


def test_the_same_schema_always_has_the_same_digest():
    one = schemas.from_json_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    two = schemas.from_json_schema({"properties": {"a": {"type": "string"}}, "type": "object"})
    assert one.digest == two.digest and len(one.digest) == 64


@pytest.mark.parametrize(("schema", "message"), [
    ([1, 2], "the schema must be a JSON object, got list"),
    ({"type": "array", "items": {}},
     'the schema\'s top level must be {"type": "object", "properties": {...}}'),
    ({"type": "object", "properties": {"a": {"type": "strin"}}},
     "not a valid JSON Schema: invalid JSON schema at a: 'type' must be one of array, boolean, integer, "
     'null, number, object, string (or a list of them), got "strin"'),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "x" * 70_000: 1},
     "the schema is larger than 64 KiB"),
])
def test_an_unusable_json_schema_is_refused_with_the_reason(schema, message):
    with pytest.raises(schemas.SchemaError) as caught:
        schemas.from_json_schema(schema)
    assert str(caught.value) == message


def test_a_bad_schema_name_is_refused():
    with pytest.raises(schemas.SchemaError, match="must match"):
        schemas.from_json_schema({"type": "object", "properties": {}}, name="bad name!")


def test_the_registry_knows_the_default_examples_by_name():
    registered = schemas.registered()
    assert {"order", "contact"} <= set(registered)
    assert registered["contact"].model is Contact and registered["contact"].registered


def test_a_registry_entry_may_rename_its_schema(settings):
    settings.EXTRACTION_SCHEMAS = ["person=tests.assistant.extraction.support:Person",
                                   "free=tests.assistant.extraction.support:FREE_FORM"]
    assert set(schemas.registered()) == {"person", "free"}
    assert not schemas.registered()["free"].strict_ok


def test_an_unknown_name_lists_what_is_registered():
    with pytest.raises(schemas.SchemaError) as caught:
        schemas.by_name("invoice")
    assert str(caught.value).startswith("there is no registered schema named 'invoice' (registered: ")
    assert "contact" in str(caught.value)


@pytest.mark.parametrize(("entry", "message"), [
    ("nonsense", "EXTRACTION_SCHEMAS: 'nonsense' is not of the form module:attr (or name=module:attr)"),
    ("assistant.extraction.examples:Nope",
     "EXTRACTION_SCHEMAS: cannot import 'assistant.extraction.examples:Nope'"),
])
def test_a_bad_registry_entry_stops_with_its_reason(settings, entry, message):
    settings.EXTRACTION_SCHEMAS = [entry]
    with pytest.raises(ImproperlyConfigured) as caught:
        schemas.registered()
    assert str(caught.value).startswith(message)


def test_a_property_named_pattern_is_not_a_regular_expression():
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}}}
    assert schemas.from_json_schema(schema, untrusted=True).schema == schema


def test_a_registered_or_local_schema_may_use_patterns():
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}
    with pytest.raises(ValidationFailure):
        schemas.from_json_schema(schema).validate('{"code": "abc"}')


def test_manage_py_check_names_a_bad_registry_entry(settings):
    from assistant.extraction.apps import check_registered_schemas

    assert check_registered_schemas() == []
    settings.EXTRACTION_SCHEMAS = ["nonsense"]
    (error,) = check_registered_schemas()
    assert error.id == "extraction.E001" and "'nonsense' is not of the form module:attr" in error.msg
