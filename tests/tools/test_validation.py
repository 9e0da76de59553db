"""Arguments are validated without coercion, and every failure says where and what was sent."""

import json
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from tools import Tool, tool
from tools.errors import ErrorType
from tools.exports import to_openai
from tools.validation import ValidationFailure, parse_arguments


class Window(BaseModel):
    start: int
    end: int


@tool
def book(room: str, people: int, projector: bool = False, window: Window | None = None,
         floor: Annotated[int, Field(ge=0, le=9)] = 1, layout: Literal["u", "theatre"] = "u",
         notes: str | None = "none") -> dict:
    """Book a room."""
    return {"room": room}


def _error(raw):
    with pytest.raises(ValidationFailure) as info:
        book.validate(raw)
    return info.value.error


@pytest.mark.parametrize(("raw", "path", "got"), [
    ('{"room": "a", "people": "5"}', "people", "5"),
    ('{"room": "a", "people": 5.5}', "people", 5.5),
    ('{"room": "a", "people": true}', "people", True),
    ('{"room": "a", "people": 5, "projector": "true"}', "projector", "true"),
    ('{"room": "a", "people": 5, "projector": 1}', "projector", 1),
    ('{"room": 7, "people": 5}', "room", 7),
])
def test_nothing_is_coerced(raw, path, got):
    error = _error(raw)
    assert error.type is ErrorType.VALIDATION_ERROR
    assert error.details[0]["path"] == path and error.details[0]["got"] == got


def test_error_shape_names_path_problem_got_and_hint():
    error = _error('{"room": "a", "people": 2, "floor": 12, "window": {"start": 1, "end": "x"}, "bogus": 1}')
    body = error.as_result()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "details", "hint"}
    assert body["error"]["type"] == "validation_error"
    assert body["error"]["message"] == "invalid arguments for book: window.end, floor, bogus"
    by_path = {d["path"]: d for d in body["error"]["details"]}
    assert by_path["floor"] == {"path": "floor", "problem": "must be <= 9", "got": 12}
    assert by_path["window.end"] == {"path": "window.end", "problem": "must be a valid integer", "got": "x"}
    assert by_path["bogus"]["problem"] == "is not an accepted argument"
    hint = body["error"]["hint"]
    assert "Accepted arguments: room, people, projector, window, floor, layout, notes." in hint
    json.dumps(body)  # the model gets it as JSON


def test_missing_required_argument_has_no_got():
    error = _error('{"people": 2}')
    assert error.details == [{"path": "room", "problem": "is required"}]


def test_literal_error_lists_the_choices():
    assert _error('{"room": "a", "people": 1, "layout": "circle"}').details[0]["problem"] == (
        "must be one of 'u' or 'theatre'"
    )


def test_valid_arguments_return_python_values_and_their_json_form():
    kwargs, args_json = book.validate('{"room": "a", "people": 3, "window": {"start": 9, "end": 10}}')
    assert kwargs["window"] == Window(start=9, end=10) and kwargs["projector"] is False
    assert args_json["window"] == {"start": 9, "end": 10} and args_json["floor"] == 1


def test_float_parameter_accepts_an_integer():
    @tool
    def scale(factor: float) -> float:
        """Scale."""
        return factor

    assert scale.validate('{"factor": 2}')[0] == {"factor": 2.0}


@pytest.mark.parametrize(("raw", "message"), [
    ('{"room": "a",', "arguments are not valid JSON"),
    ("room=a", "arguments are not valid JSON"),
    ("[1, 2]", "arguments must be a JSON object, got an array"),
    ('"just text"', "arguments must be a JSON object, got a string"),
    ("42", "arguments must be a JSON object, got a number"),
    ("null", "arguments must be a JSON object, got null"),
])
def test_malformed_or_non_object_json_is_invalid_json(raw, message):
    error = _error(raw)
    assert error.type is ErrorType.INVALID_JSON and error.message.startswith(message)
    assert error.extra["got"] == raw and error.hint


def test_non_string_arguments_are_invalid_json():
    with pytest.raises(ValidationFailure) as info:
        parse_arguments(42)  # type: ignore[arg-type]
    assert info.value.error.type is ErrorType.INVALID_JSON


def test_long_got_values_are_clipped():
    error = _error(json.dumps({"room": "a", "people": "9" * 1000}))
    assert len(error.details[0]["got"]) == 201 and error.details[0]["got"].endswith("…")


@pytest.mark.parametrize("raw", [None, "", "   ", {}])
def test_empty_arguments_mean_no_arguments(raw):
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    assert ping.validate(raw) == ({}, {})


def test_dict_arguments_are_accepted_as_already_parsed():
    assert book.validate({"room": "a", "people": 1})[0]["people"] == 1


# -- strict-mode null rule ------------------------------------------------------------------


def test_strict_null_for_optional_non_nullable_argument_means_use_the_default():
    # In strict mode the model must send every argument; optional ones are nullable.
    strict_params = to_openai(book, strict=True)["function"]["parameters"]
    assert set(strict_params["required"]) == set(strict_params["properties"])
    kwargs, args_json = book.validate(
        '{"room": "a", "people": 2, "projector": null, "floor": null, "layout": null, "window": null}'
    )
    assert kwargs["projector"] is False and kwargs["floor"] == 1 and kwargs["layout"] == "u"
    assert kwargs["window"] is None  # Optional: null is a real value
    assert args_json["projector"] is False


def test_strict_null_for_a_nullable_argument_with_a_default_is_kept_as_null():
    kwargs, _ = book.validate('{"room": "a", "people": 2, "notes": null}')
    assert kwargs["notes"] is None


def test_null_for_a_required_argument_is_still_an_error():
    assert _error('{"room": null, "people": 2}').details[0]["path"] == "room"


def test_null_rule_applies_at_every_depth():
    # Strict mode makes nested optional fields required and nullable too: the model sends null.
    class Opts(BaseModel):
        depth: int = 1
        label: str | None = "x"

    @tool
    def walk(opts: Opts, stack: list[Opts] | None = None) -> None:
        """Walk."""

    kwargs, args_json = walk.validate('{"opts": {"depth": null, "label": null}, '
                                      '"stack": [{"depth": null}, {"depth": 4}]}')
    assert kwargs["opts"].depth == 1 and kwargs["opts"].label is None  # nullable keeps its null
    assert [o.depth for o in kwargs["stack"]] == [1, 4]
    assert args_json["opts"] == {"depth": 1, "label": None}


def test_null_for_a_nested_required_field_is_an_error_with_its_dotted_path():
    class Opts(BaseModel):
        depth: int

    @tool
    def walk(opts: list[Opts]) -> None:
        """Walk."""

    with pytest.raises(ValidationFailure) as info:
        walk.validate('{"opts": [{"depth": 2}, {"depth": null}]}')
    assert info.value.error.details == [{"path": "opts.1.depth", "problem": "must be a valid integer",
                                         "got": None}]


def test_strict_null_rule_also_applies_to_raw_definition_tools():
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer", "default": 5},
                       "lang": {"type": ["string", "null"]}},
        "required": ["q"],
        "additionalProperties": False,
    }
    definition = {"name": "find", "description": "Find.", "input_schema": schema}
    t = Tool.from_definition(definition, lambda **kw: kw)
    kwargs, _ = t.validate('{"q": "x", "limit": null, "lang": null}')
    assert kwargs == {"q": "x", "lang": None}  # limit dropped: the callable's default applies
    with pytest.raises(ValidationFailure) as info:
        t.validate('{"q": null}')
    assert info.value.error.details[0]["path"] == "q"


def test_raw_definition_tool_reports_missing_and_extra_arguments():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
              "additionalProperties": False}
    t = Tool.from_definition({"name": "find", "description": "Find.", "input_schema": schema}, lambda q: q)
    with pytest.raises(ValidationFailure) as info:
        t.validate('{"other": 1}')
    assert info.value.error.details == [
        {"path": "other", "problem": "is not an accepted argument", "got": 1},
        {"path": "q", "problem": "is required"},
    ]


def test_unknown_keys_in_nested_models_are_refused_with_their_dotted_path():
    class Issuer(BaseModel):
        name: str

    class Options(BaseModel):
        issuer: Issuer
        labels: dict[str, int] = {}

    @tool
    def sign(options: Options, items: list[Issuer]) -> None:
        """Sign."""

    with pytest.raises(ValidationFailure) as info:
        sign.validate({"options": {"issuer": {"name": "a", "nmae": "b"}, "labels": {"any": 1}},
                       "items": [{"name": "x"}, {"name": "y", "extra": True}]})
    assert info.value.error.details == [
        {"path": "options.issuer.nmae", "problem": "is not an accepted argument", "got": "b"},
        {"path": "items.1.extra", "problem": "is not an accepted argument", "got": True},
    ]  # a dict[str, int] keeps any key


def test_unknown_keys_never_reach_a_raw_definition_callable():
    received = []
    schema = {"type": "object", "properties": {"q": {"type": "string"},
                                                "opts": {"type": "object",
                                                         "properties": {"n": {"type": "integer"}}},
                                                "meta": {"type": "object"},
                                                "extra": {"type": "object", "properties": {},
                                                          "additionalProperties": True}}}
    t = Tool.from_definition({"name": "find", "description": "Find.", "input_schema": schema},
                             lambda **kw: received.append(kw))
    with pytest.raises(ValidationFailure) as info:
        t.validate({"q": "a", "opts": {"n": 1, "m": 2}, "bogus": 3})
    assert [d["path"] for d in info.value.error.details] == ["bogus", "opts.m"]
    kwargs, _ = t.validate({"q": "a", "meta": {"free": 1}, "extra": {"k": "v"}})  # explicitly open
    assert kwargs == {"q": "a", "meta": {"free": 1}, "extra": {"k": "v"}}
    assert received == []


def test_a_bare_top_level_object_takes_no_arguments():
    t = Tool.from_definition({"name": "ping", "description": "Ping.", "input_schema": {"type": "object"}},
                             lambda: "pong")
    assert t.validate("{}") == ({}, {})
    with pytest.raises(ValidationFailure) as info:
        t.validate('{"x": 1}')
    assert info.value.error.details == [{"path": "x", "problem": "is not an accepted argument", "got": 1}]


def test_nested_nulls_in_a_raw_definition_mean_the_default_and_required_ones_are_errors():
    schema = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["sku"],
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "default": 1}}}}}}
    t = Tool.from_definition({"name": "order", "description": "Order.", "input_schema": schema},
                             lambda **kw: kw)
    kwargs, _ = t.validate({"items": [{"sku": "a", "qty": None}, {"sku": "b", "qty": 2}]})
    assert kwargs == {"items": [{"sku": "a"}, {"sku": "b", "qty": 2}]}  # the server applies its default
    with pytest.raises(ValidationFailure) as info:
        t.validate({"items": [{"sku": None, "qty": 1}, {"qty": 1}]})
    assert info.value.error.details == [
        {"path": "items.0.sku", "problem": "must be a valid string", "got": None},
        {"path": "items.1.sku", "problem": "is required"},
    ]


def test_a_missing_required_argument_is_worded_alike_for_both_kinds_of_tool():
    raw = Tool.from_definition({"name": "r", "description": "R.", "input_schema": {
        "type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"]}}, lambda **kw: kw)

    @tool
    def typed(room: str) -> None:
        """T."""

    for item in (raw, typed):
        with pytest.raises(ValidationFailure) as info:
            item.validate("{}")
        assert info.value.error.details == [{"path": "room", "problem": "is required"}]


UNSTORABLE = ("contains a NUL character (U+0000) or an unpaired surrogate, which arguments may not hold "
              "(send binary data encoded, e.g. as base64)")


def test_a_nul_in_a_nested_argument_is_refused_with_its_dotted_path():
    error = _error({"room": "a\x00", "people": 5, "notes": "fine"})
    assert error.type == ErrorType.VALIDATION_ERROR
    assert error.details == [{"path": "room", "problem": UNSTORABLE, "got": "a\ufffd"}]


def test_a_raw_definition_refuses_nul_and_lone_surrogates_in_values_and_keys():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}},
                                               "meta": {"type": "object", "additionalProperties": True}}}
    find = Tool.from_definition({"name": "find", "description": "Find.", "input_schema": schema},
                                lambda **kw: kw)
    with pytest.raises(ValidationFailure) as info:
        find.validate({"tags": ["ok", "b\ud800"], "meta": {"k\x00": 1}})
    assert info.value.error.details == [
        {"path": "tags.1", "problem": UNSTORABLE, "got": "b\ufffd"},
        {"path": "meta.k\ufffd", "problem": UNSTORABLE, "got": "k\ufffd"},
    ]
