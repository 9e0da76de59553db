"""The demo's extraction rules: what it fills, what it leaves out, and that it is no model."""

from __future__ import annotations

import json

from assistant.extraction.examples import Contact, Order
from assistant.extraction.schemas import from_json_schema, from_model
from assistant.providers.base import ChatMessage, ChatRequest, OutputFormat, TextDelta, ToolCallFinished
from assistant.providers.demo import DemoProvider
from assistant.providers.demo_extract import fill
from tests.assistant.providers.support import collect, finished, of_type, text_of
from tools.definition import Tool


def test_key_value_lines_fill_properties_converted_to_their_types():
    schema = {"type": "object", "properties": {
        "title": {"type": "string"}, "pages": {"type": "integer"}, "price": {"type": "number"},
        "in_stock": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
        "format": {"enum": ["paperback", "hardcover"]}}}
    text = ("Title: Dune\npages: 412\nPrice: 9.99\nin stock: yes\ntags: sf, classic and desert\n"
            "format: Hardcover")
    assert fill(schema, text) == {"title": "Dune", "pages": 412, "price": 9.99, "in_stock": True,
                                  "tags": ["sf", "classic", "desert"], "format": "hardcover"}


def test_emails_phones_and_dates_are_found_anywhere_for_properties_named_after_them():
    data = fill(from_model(Contact).schema,
                "name: Bob Jones\nReach Bob at bob@example.com or +44 20 7946 0958.")
    assert data == {"name": "Bob Jones", "email": "bob@example.com", "phone": "+44 20 7946 0958",
                    "company": None}


def test_order_lines_fill_arrays_of_product_and_quantity():
    data = fill(from_model(Order).schema, "customer: Ann\nitems: 3 x pen, 12 envelopes, stapler")
    assert data["items"] == [{"product": "pen", "quantity": 3}, {"product": "envelopes", "quantity": 12},
                             {"product": "stapler", "quantity": 1}]
    assert data["delivery_date"] is None


def test_a_required_value_it_cannot_find_is_left_out_so_validation_says_so():
    data = fill(from_model(Contact).schema, "no names here")
    assert data == {"email": None, "phone": None, "company": None}


def test_hostile_schemas_do_not_break_it():
    weird = {"type": "object", "properties": {"a": True, "b": {"anyOf": [True, {"type": "null"}]},
                                              "c": {"type": "array", "prefixItems": [{"type": "string"}]}},
             "required": ["zzz"]}
    from_json_schema(weird)  # a valid JSON Schema
    assert fill(weird, "a: 1\nb: 2\nc: 3") == {"b": "2", "c": ["3"]}


async def test_the_demo_answers_a_json_schema_request_with_json_and_a_demo_id():
    schema = from_model(Contact).strict()
    request = ChatRequest(model="demo", messages=[ChatMessage("user", "name: Ada\nemail: ada@example.com")],
                          output=OutputFormat("contact", schema, strict=True))
    events = await collect(DemoProvider(), request)
    assert json.loads(text_of(events)) == {"name": "Ada", "email": "ada@example.com", "phone": None,
                                           "company": None}
    assert finished(events).message_id.startswith("demo-") and of_type(events, ToolCallFinished) == []


async def test_the_demo_answers_a_forced_tool_call_with_the_filled_arguments():
    tool = Tool.from_definition({"name": "contact", "description": "A contact.",
                                 "input_schema": from_model(Contact).schema}, fn=lambda **kw: kw)
    request = ChatRequest(model="demo", messages=[ChatMessage("user", "name: Ada")], tools=[tool],
                          tool_choice="contact")
    events = await collect(DemoProvider(), request)
    (call,) = of_type(events, ToolCallFinished)
    assert call.name == "contact" and json.loads(call.arguments)["name"] == "Ada"
    assert of_type(events, TextDelta) == [] and finished(events).reason == "tool_calls"
