"""The JSON Schema a tool shows the model is generated from its signature and docstring."""

import enum
import socket
from collections.abc import Callable
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from tools import ToolContext, tool
from tools.errors import ToolDefinitionError
from tools.schema import clean_schema, parse_docstring


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    city: Annotated[str, Field(description="City name")]
    zip_code: str = "00000"


class Order(BaseModel):
    items: list[str]
    ship_to: Address


def _props(t):
    return t.parameters["properties"]


def test_scalar_types_map_to_json_types():
    @tool
    def scalars(text: str, count: int, ratio: float, flag: bool) -> None:
        """Scalars."""

    props = _props(scalars)
    assert {name: p["type"] for name, p in props.items()} == {
        "text": "string", "count": "integer", "ratio": "number", "flag": "boolean",
    }
    assert scalars.parameters["required"] == ["text", "count", "ratio", "flag"]
    assert scalars.parameters["type"] == "object"
    assert scalars.parameters["additionalProperties"] is False


def test_literal_and_enum_become_enums():
    @tool
    def pick(mode: Literal["fast", "slow"], unit: Unit) -> None:
        """Pick."""

    assert _props(pick)["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert _props(pick)["unit"]["enum"] == ["celsius", "fahrenheit"]


def test_optional_is_nullable_and_not_required():
    @tool
    def opt(limit: Optional[int] = None, name: str | None = None) -> None:  # noqa: UP045
        """Opt."""

    props = _props(opt)
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert {"type": "null"} in props["name"]["anyOf"]
    assert "required" not in opt.parameters or opt.parameters["required"] == []


def test_lists_and_dicts():
    @tool
    def coll(tags: list[str], weights: dict[str, float], matrix: list[list[int]]) -> None:
        """Coll."""

    props = _props(coll)
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["matrix"]["items"] == {"type": "array", "items": {"type": "integer"}}


def test_nested_pydantic_models_are_inlined_without_refs_or_titles():
    @tool
    def place(order: Order) -> None:
        """Place an order."""

    schema = place.parameters
    assert "$defs" not in schema and "$ref" not in str(schema) and "title" not in str(schema)
    ship_to = schema["properties"]["order"]["properties"]["ship_to"]
    assert ship_to["properties"]["city"] == {"type": "string", "description": "City name"}
    assert ship_to["required"] == ["street", "city"]
    assert ship_to["properties"]["zip_code"]["default"] == "00000"


def test_annotated_field_constraints_and_description():
    @tool
    def rng(n: Annotated[int, Field(ge=1, le=10, description="How many")] = 3) -> None:
        """Range.

        Args:
            n: The docstring's words lose to Field(description=...).
        """

    assert _props(rng)["n"] == {
        "type": "integer", "minimum": 1, "maximum": 10, "description": "How many", "default": 3,
    }


def test_defaults_appear_in_the_schema_and_make_arguments_optional():
    @tool
    def d(city: str, days: int = 3, metric: bool = True) -> None:
        """D."""

    assert d.parameters["required"] == ["city"]
    assert _props(d)["days"]["default"] == 3
    assert _props(d)["metric"]["default"] is True


def test_tool_context_parameter_is_hidden_from_the_model():
    @tool
    def whoami(ctx: ToolContext, shout: bool = False) -> None:
        """Who am I."""

    assert list(_props(whoami)) == ["shout"]
    assert whoami.context_param == "ctx"


def test_google_docstring():
    @tool
    def forecast(city: str, days: int = 3) -> str:
        """Get the weather forecast.

        Uses the public API.

        Args:
            city: The city name,
                e.g. Paris.
            days: Number of days.

        Returns:
            The forecast.
        """

    assert forecast.description == "Get the weather forecast.\n\nUses the public API."
    assert _props(forecast)["city"]["description"] == "The city name, e.g. Paris."
    assert _props(forecast)["days"]["description"] == "Number of days."


def test_numpy_docstring():
    @tool
    def forecast(city: str, days: int = 3) -> str:
        """Get the weather forecast.

        Parameters
        ----------
        city : str
            The city name.
        days : int
            Number of days.

        Returns
        -------
        str
            The forecast.
        """

    assert forecast.description == "Get the weather forecast."
    assert _props(forecast)["city"]["description"] == "The city name."
    assert _props(forecast)["days"]["description"] == "Number of days."


def test_sphinx_docstring():
    @tool
    def forecast(city: str, days: int = 3) -> str:
        """Get the weather forecast.

        :param city: The city name.
        :param days: Number of days.
        :returns: The forecast.
        """

    assert forecast.description == "Get the weather forecast."
    assert _props(forecast)["city"]["description"] == "The city name."
    assert _props(forecast)["days"]["description"] == "Number of days."


def test_parse_docstring_of_undocumented_function_is_empty():
    def bare(x: int) -> None:
        pass

    doc = parse_docstring(bare)
    assert doc.description == "" and doc.params == {}


@pytest.mark.parametrize("annotation", [socket.socket, Callable, Callable[[int], int]])
def test_unsupported_parameter_type_fails_naming_tool_and_parameter(annotation):
    def handle(conn: int) -> None:
        """Handle."""

    handle.__annotations__["conn"] = annotation
    with pytest.raises(ToolDefinitionError, match=r"tool 'handle': parameter 'conn' has an unsupported type"):
        tool(handle)


def test_missing_annotation_fails():
    def untyped(city, days: int = 1) -> None:
        """Untyped."""

    with pytest.raises(ToolDefinitionError, match=r"tool 'untyped': parameter 'city' has no type annotation"):
        tool(untyped)


@pytest.mark.parametrize("source", [
    "def f(*args: int) -> None:\n    'F.'",
    "def f(**kwargs: int) -> None:\n    'F.'",
])
def test_star_args_fail(source):
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(ToolDefinitionError, match=r"tool 'f': parameter '\w+' is \*args/\*\*kwargs"):
        tool(namespace["f"])


def test_positional_only_parameter_fails():
    def f(x: int, /) -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match=r"tool 'f': parameter 'x' is positional-only"):
        tool(f)


def test_unresolvable_forward_reference_fails_clearly():
    def f(x: "Missing") -> None:  # noqa: F821
        """F."""

    with pytest.raises(ToolDefinitionError, match=r"tool 'f': cannot resolve type hints"):
        tool(f)


def test_recursive_model_is_refused():
    class Node(BaseModel):
        value: int
        children: list["Node"] = []

    Node.model_rebuild()

    def tree(root: Node) -> None:
        """Tree."""

    with pytest.raises(ToolDefinitionError, match=r"recursive type 'Node'"):
        tool(tree)


def test_clean_schema_keeps_sibling_keys_of_a_ref():
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A", "description": "the a"}},
        "$defs": {"A": {"type": "object", "title": "A", "properties": {"x": {"type": "integer"}}}},
    }
    assert clean_schema(schema)["properties"]["a"] == {
        "type": "object", "properties": {"x": {"type": "integer"}}, "description": "the a",
    }
