"""convert_units converts exactly within a category and explains every refusal."""

from __future__ import annotations

import pytest

from tools import ArgumentError, Risk
from tools.builtin.units import CATEGORIES, UNITS, convert_units
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


def _pipeline() -> Pipeline:
    reg = Registry()
    reg.register(convert_units)
    return Pipeline(reg, gate=None, access=None, record=False)


def _refusal(value: float, from_unit: str, to_unit: str) -> ArgumentError:
    with pytest.raises(ArgumentError) as info:
        convert_units.fn(value, from_unit, to_unit)
    return info.value


@pytest.mark.parametrize(("value", "source", "target", "expected"), [
    # temperature: offsets, not just factors
    (100, "C", "F", 212),
    (0, "C", "F", 32),
    (-40, "F", "C", -40),
    (32, "F", "C", 0),
    (0, "C", "K", 273.15),
    (0, "K", "F", -459.67),
    (300, "K", "C", 26.85),
    # length
    (1, "mi", "m", 1609.344),
    (1, "nmi", "m", 1852),
    (1, "km", "mi", 0.621371192237334),
    (1, "in", "cm", 2.54),
    (1, "yd", "ft", 3),
    (1, "m", "mm", 1000),
    (1, "um", "mm", 0.001),
    (100, "cm", "m", 1),
    # mass
    (1, "lb", "kg", 0.45359237),
    (1, "st", "lb", 14),
    (1, "oz", "g", 28.349523125),
    (1, "t", "kg", 1000),
    (1000, "mg", "g", 1),
    (1, "kg", "lb", 2.204622621848776),
    # volume (US customary)
    (1, "gal", "l", 3.785411784),
    (1, "gal", "qt", 4),
    (1, "qt", "pt", 2),
    (1, "pt", "cup", 2),
    (1, "cup", "fl_oz", 8),
    (1, "fl_oz", "tbsp", 2),
    (1, "tbsp", "tsp", 3),
    (1, "fl_oz", "ml", 29.5735295625),
    (1, "m3", "l", 1000),
    (1, "l", "ml", 1000),
    # speed
    (1, "m/s", "km/h", 3.6),
    (1, "mph", "km/h", 1.609344),
    (1, "knot", "km/h", 1.852),
    (1, "ft/s", "m/s", 0.3048),
    (60, "mph", "m/s", 26.8224),
])
def test_known_conversions(value, source, target, expected):
    assert convert_units.fn(value, source, target)["result"] == pytest.approx(expected, rel=1e-12)


def test_exact_ratios_come_out_exact_without_float_drift():
    assert convert_units.fn(1, "ft", "in")["result"] == 12.0
    assert convert_units.fn(100, "C", "F")["result"] == 212.0
    assert convert_units.fn(3, "tsp", "tbsp")["result"] == 1.0
    assert convert_units.fn(0.1, "ft", "in")["result"] == 1.2  # the decimal 0.1, not the float


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_every_unit_round_trips_through_every_other_unit_of_its_category(category):
    symbols = CATEGORIES[category]
    for source in symbols:
        for target in symbols:
            there = convert_units.fn(37.5, source, target)["result"]
            back = convert_units.fn(there, target, source)["result"]
            assert back == pytest.approx(37.5, rel=1e-12), (source, target)


async def test_the_result_names_the_units_and_the_category():
    res = await _pipeline().call(ToolCallRequest(
        "convert_units", '{"value": 100, "from_unit": "celsius", "to_unit": "Fahrenheit"}'))
    assert res.status == "ok"
    assert res.output == {"value": 100.0, "from": "C", "to": "F", "result": 212.0, "category": "temperature"}


@pytest.mark.parametrize(("alias", "symbol"), [
    ("meter", "m"), ("Metres", "m"), ("METERS", "m"), ("kilometres", "km"), ("feet", "ft"),
    ("inches", "in"), ("nautical miles", "nmi"), ("µm", "um"), ("μm", "um"),
    ("pounds", "lb"), ("LBS", "lb"), ("kilograms", "kg"), ("ounces", "oz"), ("stone", "st"),
    ("celsius", "C"), ("c", "C"), ("°C", "C"), ("FAHRENHEIT", "F"), ("kelvin", "K"),
    ("litres", "l"), ("L", "l"), ("gallons", "gal"), ("fl oz", "fl_oz"), ("Fluid_Ounces", "fl_oz"),
    ("tablespoons", "tbsp"), ("m³", "m3"),
    ("KM/H", "km/h"), ("kph", "km/h"), ("miles per hour", "mph"), ("knots", "knot"),
])
def test_aliases_are_accepted_in_any_case(alias, symbol):
    category = next(u.category for u in UNITS if u.symbol == symbol)
    assert convert_units.fn(1, alias, symbol)["from"] == symbol
    assert convert_units.fn(1, alias, symbol)["result"] == 1.0
    assert convert_units.fn(1, symbol, alias)["category"] == category


def test_different_categories_cannot_be_converted():
    error = _refusal(1, "kg", "m")
    assert error.message == "cannot convert mass (kg) to length (m)"
    assert error.path == "to_unit"
    assert error.hint == "Supported mass units: kg, g, mg, t, lb, oz, st."


async def test_a_category_mismatch_reaches_the_model_as_a_validation_error():
    res = await _pipeline().call(ToolCallRequest(
        "convert_units", {"value": 2, "from_unit": "fl_oz", "to_unit": "oz"}))
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.message == (
        "invalid arguments for convert_units: cannot convert volume (fl_oz) to mass (oz)"
    )


def test_an_unknown_unit_lists_the_units_of_the_other_units_category():
    error = _refusal(1, "furlong", "m")
    assert error.message == "unknown unit 'furlong'"
    assert error.path == "from_unit"
    assert error.hint == "Supported length units: m, km, cm, mm, um, mi, yd, ft, in, nmi."
    error = _refusal(1, "kg", "grain")
    assert error.path == "to_unit"
    assert error.hint == "Supported mass units: kg, g, mg, t, lb, oz, st."


def test_an_unknown_unit_with_no_known_partner_lists_every_category():
    error = _refusal(1, "furlong", "fortnight")
    assert error.path == "from_unit"
    for category, symbols in CATEGORIES.items():
        assert f"{category}: {', '.join(symbols)}" in error.hint


def test_a_misspelt_unit_gets_a_suggestion():
    assert _refusal(1, "m", "ftt").hint.startswith("Did you mean ft?")
    assert _refusal(1, "kilogramm", "lb").hint.startswith("Did you mean kg?")


@pytest.mark.parametrize(("value", "unit", "zero"), [(-500, "F", "-459.67 F"), (-274, "C", "-273.15 C"),
                                                      (-1, "K", "0 K")])
def test_temperatures_below_absolute_zero_are_refused(value, unit, zero):
    error = _refusal(value, unit, "K" if unit != "K" else "C")
    assert error.message == f"{value} {unit} is below absolute zero ({zero})"
    assert error.path == "value"


def test_absolute_zero_itself_is_fine():
    assert convert_units.fn(-273.15, "C", "K")["result"] == 0.0
    assert convert_units.fn(-459.67, "F", "C")["result"] == -273.15


def test_a_result_beyond_the_float_range_is_refused():
    error = _refusal(1e308, "km", "mm")
    assert error.message == "1e+308 km in mm is too large to represent"


async def test_non_finite_and_non_numeric_values_are_rejected_by_the_schema():
    pipeline = _pipeline()
    for raw in ('{"value": NaN, "from_unit": "m", "to_unit": "ft"}',
                '{"value": Infinity, "from_unit": "m", "to_unit": "ft"}',
                '{"value": "5", "from_unit": "m", "to_unit": "ft"}'):
        res = await pipeline.call(ToolCallRequest("convert_units", raw))
        assert res.status == "error", raw
        assert res.error.type == ErrorType.VALIDATION_ERROR, raw
        assert res.error.details[0]["path"] == "value", raw
        assert res.attempts == 0, raw


def test_convert_units_is_low_risk_read_only_and_documents_its_units():
    assert convert_units.risk == Risk.LOW
    assert convert_units.read_only is True
    for symbols in CATEGORIES.values():
        for symbol in symbols:
            assert symbol in convert_units.description
