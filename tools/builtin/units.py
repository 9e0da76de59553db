"""The ``convert_units`` tool: unit conversions a model would otherwise misremember.

Every unit is an exact affine map to its category's base unit (``base = value * scale +
offset``), with the scale and offset kept as :class:`fractions.Fraction` from their legal
definitions (1 in = 0.0254 m exactly, 1 US gal = 3.785411784 l exactly), and the value is
read as the decimal the model wrote. The arithmetic is exact and only the final answer is
rounded to a float, so 1 ft is 12 in, not 12.000000000000002, and 100 °C is exactly
212 °F. Temperatures are the reason for the offset: a factor alone cannot turn Celsius
into Fahrenheit.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from pydantic import Field

from tools import ArgumentError, tool
from tools.definition import Tool


@dataclass(frozen=True)
class Unit:
    symbol: str
    category: str
    scale: Fraction
    offset: Fraction = Fraction(0)
    aliases: tuple[str, ...] = ()

    def to_base(self, value: Fraction) -> Fraction:
        return value * self.scale + self.offset

    def from_base(self, value: Fraction) -> Fraction:
        return (value - self.offset) / self.scale


_F = Fraction
_INCH = _F("0.0254")
_FOOT = 12 * _INCH
_MILE = 5280 * _FOOT  # 1609.344 m
_NAUTICAL_MILE = _F(1852)
_POUND = _F("0.45359237")
_GALLON = _F("3.785411784")  # US liquid gallon, in litres
_FLUID_OUNCE = _GALLON / 128
_HOUR = 3600
_ZERO_CELSIUS = _F("273.15")  # in kelvin

UNITS: tuple[Unit, ...] = (
    # length, base metre
    Unit("m", "length", _F(1), aliases=("meter", "meters", "metre", "metres")),
    Unit("km", "length", _F(1000), aliases=("kilometer", "kilometers", "kilometre", "kilometres")),
    Unit("cm", "length", _F(1, 100), aliases=("centimeter", "centimeters", "centimetre", "centimetres")),
    Unit("mm", "length", _F(1, 1000), aliases=("millimeter", "millimeters", "millimetre", "millimetres")),
    Unit("um", "length", _F(1, 10**6),
         aliases=("µm", "μm", "micrometer", "micrometers", "micrometre", "micrometres", "micron", "microns")),
    Unit("mi", "length", _MILE, aliases=("mile", "miles")),
    Unit("yd", "length", 3 * _FOOT, aliases=("yard", "yards", "yds")),
    Unit("ft", "length", _FOOT, aliases=("foot", "feet")),
    Unit("in", "length", _INCH, aliases=("inch", "inches")),
    Unit("nmi", "length", _NAUTICAL_MILE, aliases=("nautical mile", "nautical miles")),
    # mass, base kilogram
    Unit("kg", "mass", _F(1), aliases=("kilogram", "kilograms", "kilo", "kilos", "kgs")),
    Unit("g", "mass", _F(1, 1000), aliases=("gram", "grams", "gramme", "grammes")),
    Unit("mg", "mass", _F(1, 10**6), aliases=("milligram", "milligrams")),
    Unit("t", "mass", _F(1000), aliases=("tonne", "tonnes", "metric ton", "metric tons")),
    Unit("lb", "mass", _POUND, aliases=("lbs", "pound", "pounds")),
    Unit("oz", "mass", _POUND / 16, aliases=("ounce", "ounces")),
    Unit("st", "mass", 14 * _POUND, aliases=("stone", "stones")),
    # temperature, base kelvin
    Unit("C", "temperature", _F(1), _ZERO_CELSIUS, aliases=("°C", "degC", "celsius", "centigrade")),
    Unit("F", "temperature", _F(5, 9), _ZERO_CELSIUS - _F(5, 9) * 32, aliases=("°F", "degF", "fahrenheit")),
    Unit("K", "temperature", _F(1), aliases=("kelvin", "kelvins")),
    # volume, base litre
    Unit("l", "volume", _F(1), aliases=("liter", "liters", "litre", "litres")),
    Unit("ml", "volume", _F(1, 1000), aliases=("milliliter", "milliliters", "millilitre", "millilitres")),
    Unit("m3", "volume", _F(1000),
         aliases=("m³", "cubic meter", "cubic meters", "cubic metre", "cubic metres")),
    Unit("gal", "volume", _GALLON, aliases=("gallon", "gallons")),
    Unit("qt", "volume", _GALLON / 4, aliases=("quart", "quarts")),
    Unit("pt", "volume", _GALLON / 8, aliases=("pint", "pints")),
    Unit("cup", "volume", _GALLON / 16, aliases=("cups",)),
    Unit("fl_oz", "volume", _FLUID_OUNCE, aliases=("floz", "fluid ounce", "fluid ounces")),
    Unit("tbsp", "volume", _FLUID_OUNCE / 2, aliases=("tablespoon", "tablespoons")),
    Unit("tsp", "volume", _FLUID_OUNCE / 6, aliases=("teaspoon", "teaspoons")),
    # speed, base metre per second
    Unit("m/s", "speed", _F(1), aliases=("mps", "meters per second", "metres per second")),
    Unit("km/h", "speed", _F(1000, _HOUR),
         aliases=("kph", "kmh", "km/hr", "kilometers per hour", "kilometres per hour")),
    Unit("mph", "speed", _MILE / _HOUR, aliases=("mi/h", "miles per hour")),
    Unit("knot", "speed", _NAUTICAL_MILE / _HOUR, aliases=("knots", "kn", "kt")),
    Unit("ft/s", "speed", _FOOT, aliases=("fps", "feet per second")),
)


def _key(name: str) -> str:
    """Lookup key: case-insensitive, and spaces, underscores and hyphens alike."""
    return re.sub(r"[\s_-]+", " ", name.strip()).casefold()


_BY_NAME: dict[str, Unit] = {}
for _unit in UNITS:
    for _name in (_unit.symbol, *_unit.aliases):
        if _BY_NAME.setdefault(_key(_name), _unit) is not _unit:
            raise RuntimeError(f"unit name {_name!r} is defined twice")

CATEGORIES: dict[str, list[str]] = {}
for _unit in UNITS:
    CATEGORIES.setdefault(_unit.category, []).append(_unit.symbol)


def _catalogue(category: str | None = None) -> str:
    if category is not None:
        return f"Supported {category} units: {', '.join(CATEGORIES[category])}."
    groups = "; ".join(f"{name}: {', '.join(symbols)}" for name, symbols in CATEGORIES.items())
    return f"Supported units — {groups}."


def find_unit(name: str, path: str, category: str | None = None) -> Unit:
    """The unit called ``name`` (symbol or alias, any case), or an :class:`ArgumentError`.

    ``category`` is the category of the other unit, when known: the hint then lists the
    units that could actually be used here.
    """
    unit = _BY_NAME.get(_key(name))
    if unit is not None:
        return unit
    close = difflib.get_close_matches(_key(name), _BY_NAME, n=3, cutoff=0.75)
    symbols = list(dict.fromkeys(_BY_NAME[c].symbol for c in close))
    hint = _catalogue(category)
    if symbols:
        hint = f"Did you mean {', '.join(symbols)}? {hint}"
    shown = name if len(name) <= 100 else name[:100] + "…"
    raise ArgumentError(f"unknown unit {shown!r}", path=path, got=shown, hint=hint)


def convert(value: float, source: Unit, target: Unit) -> float:
    """``value`` in ``source`` expressed in ``target``; both units of one category.

    The value is read as the decimal it prints as (``-273.15``, not the binary float
    nearest to it), so absolute zero typed in Celsius is exactly 0 K.
    """
    if not math.isfinite(value):
        raise ArgumentError(f"{value} is not a finite number", path="value", got=str(value))
    base = source.to_base(Fraction(repr(value)))
    if source.category == "temperature" and base < 0:
        zero = float(source.from_base(Fraction(0)))
        raise ArgumentError(
            f"{value:g} {source.symbol} is below absolute zero ({zero:g} {source.symbol})",
            path="value", got=value,
        )
    try:
        result = float(target.from_base(base))
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ArgumentError(f"{value:g} {source.symbol} in {target.symbol} is too large to represent",
                            path="value", got=value)
    return result


@tool(risk="low", read_only=True, idempotent=True, timeout=5)
def convert_units(
    value: Annotated[float, Field(allow_inf_nan=False)],
    from_unit: Annotated[str, Field(min_length=1, max_length=50)],
    to_unit: Annotated[str, Field(min_length=1, max_length=50)],
) -> dict[str, Any]:
    """Convert a quantity from one unit to another within the same kind of quantity.

    Use this instead of recalling conversion factors. It is exact (legal definitions of
    the units) and handles temperature offsets correctly.

    Supported units (symbols; common names such as "meters", "miles", "pounds", "celsius",
    "fahrenheit", "kelvin", "gallons", "knots" work too, in any case):
    length: m, km, cm, mm, um, mi, yd, ft, in, nmi (nautical mile);
    mass: kg, g, mg, t (metric tonne), lb, oz, st (stone);
    temperature: C, F, K;
    volume: l, ml, m3, gal, qt, pt, cup, fl_oz, tbsp, tsp (all US customary);
    speed: m/s, km/h, mph, knot, ft/s.
    Both units must be of the same kind: mass cannot be converted to length.

    Examples: {"value": 100, "from_unit": "C", "to_unit": "F"} gives 212;
    {"value": 1, "from_unit": "mi", "to_unit": "km"} gives 1.609344;
    {"value": 2, "from_unit": "cups", "to_unit": "ml"}.

    Args:
        value: The quantity to convert, in from_unit.
        from_unit: The unit value is given in, e.g. "km", "lb", "F", "gal", "mph".
        to_unit: The unit to convert to, e.g. "mi", "kg", "C", "l", "km/h".
    """
    other = _BY_NAME.get(_key(to_unit))
    source = find_unit(from_unit, "from_unit", other.category if other else None)
    target = find_unit(to_unit, "to_unit", source.category)
    if source.category != target.category:
        raise ArgumentError(
            f"cannot convert {source.category} ({source.symbol}) to {target.category} ({target.symbol})",
            path="to_unit", got=to_unit, hint=_catalogue(source.category),
        )
    return {
        "value": value,
        "from": source.symbol,
        "to": target.symbol,
        "result": convert(value, source, target),
        "category": source.category,
    }


TOOLS: list[Tool] = [convert_units]
