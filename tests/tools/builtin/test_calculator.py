"""The calculator computes arithmetic and refuses everything else, including number bombs."""

from __future__ import annotations

import ast
import inspect
import math
import time

import pytest

from tools import ArgumentError, Risk
from tools.builtin import calculator as calculator_module
from tools.builtin.calculator import calculator, evaluate
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


def _pipeline() -> Pipeline:
    reg = Registry()
    reg.register(calculator)
    return Pipeline(reg, gate=None, access=None, record=False)


def _refusal(expression: str) -> ArgumentError:
    with pytest.raises(ArgumentError) as info:
        evaluate(expression)
    assert info.value.path == "expression"
    return info.value


async def test_twelve_times_seven_is_84_through_the_pipeline():
    res = await _pipeline().call(ToolCallRequest("calculator", '{"expression": "12*7"}'))
    assert res.status == "ok"
    assert res.output == {"expression": "12*7", "result": 84}
    assert type(res.output["result"]) is int


@pytest.mark.parametrize(("expression", "expected"), [
    ("2 + 3 * 4", 14),
    ("(2 + 3) * 4", 20),
    ("2 ** 3 ** 2", 512),
    ("-2 ** 2", -4),
    ("10 - 4 - 3", 3),
    ("2 * 3 ** 2", 18),
    ("100 / 10 / 5", 2.0),
    ("7 / 2", 3.5),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("-7 % 3", 2),
    ("+-+3", -3),
    ("1_000_000 * 3", 3_000_000),
    ("1e3 + 0.5", 1000.5),
])
def test_operator_precedence_and_semantics_follow_python(expression, expected):
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_integer_results_stay_exact_integers():
    assert evaluate("2**100") == 2**100
    assert evaluate("factorial(25) // factorial(23)") == 600
    assert type(evaluate("3 * 4")) is int


@pytest.mark.parametrize(("expression", "expected"), [
    ("sqrt(16)", 4.0),
    ("abs(-3)", 3),
    ("round(2.5)", 2),
    ("round(3.14159, 2)", 3.14),
    ("floor(-2.5)", -3),
    ("ceil(2.1)", 3),
    ("log(e)", 1.0),
    ("log(1024, 2)", 10.0),
    ("log10(1000)", 3.0),
    ("exp(0)", 1.0),
    ("sin(0)", 0.0),
    ("cos(pi)", -1.0),
    ("tan(0)", 0.0),
    ("factorial(5)", 120),
    ("factorial(5.0)", 120),
    ("min(3, 1, 2)", 1),
    ("max(3, 1, 2)", 3),
    ("max(7)", 7),
    ("tau / pi", 2.0),
    ("sqrt(2) * sqrt(2)", pytest.approx(2.0)),
])
def test_whitelisted_functions_and_constants_compute(expression, expected):
    assert evaluate(expression) == expected


def test_a_long_flat_sum_is_not_mistaken_for_deep_nesting():
    assert evaluate("+".join(["1"] * 200)) == 200


def test_factorial_1000_is_returned_in_full():
    assert evaluate("factorial(1000)") == math.factorial(1000)


async def test_a_large_exact_result_survives_serialisation_through_the_pipeline():
    res = await _pipeline().call(ToolCallRequest("calculator", '{"expression": "factorial(1000)"}'))
    assert res.status == "ok"
    assert res.output["result"] == math.factorial(1000)


BOMBS = [
    ("9**9**9", "more than 4300 digits"),
    ("9**9**9**9", "more than 4300 digits"),
    ("10**10**10", "more than 4300 digits"),
    ("2**2**2**2**2**2", "more than 4300 digits"),
    ("10**4300", "more than 4300 digits"),
    ("(-3)**100000", "more than 4300 digits"),
    ("(10**2000) * (10**2000) * (10**2000)", "more than 4300 digits"),
    ("factorial(1001)", "the limit is factorial(1000)"),
    ("factorial(10**100)", "the limit is factorial(1000)"),
    ("factorial(factorial(20))", "the limit is factorial(1000)"),
    ("round(5, -10**100)", "round's digits must be between"),
    ("exp(1000)", "overflows a floating-point number"),
    ("1e308 * 10", "overflows a floating-point number"),
    ("1.5 * 10**4000", "overflows a floating-point number"),
    ("(10**4000) ** 0.5", "overflows a floating-point number"),
    ("0.5 ** -10000", "overflows a floating-point number"),
    ("1e309", "too large for a floating-point number"),
]


@pytest.mark.parametrize(("expression", "message"), BOMBS)
def test_number_bombs_are_refused(expression, message):
    assert message in _refusal(expression).message


def test_number_bombs_are_refused_without_being_computed():
    for expression, _ in BOMBS:
        start = time.perf_counter()
        _refusal(expression)
        assert time.perf_counter() - start < 2.0, f"{expression} took too long to refuse"


def test_huge_numbers_are_described_not_printed_in_errors():
    error = _refusal("(10**4000)**(10**4000)")
    assert "digit number>" in error.message
    assert len(error.message) < 200


@pytest.mark.parametrize(("expression", "message"), [
    ("factorial(-1)", "factorial needs a whole number >= 0"),
    ("factorial(2.5)", "factorial needs a whole number, got 2.5"),
    ("sqrt(-1)", "sqrt(-1) is not a real number"),
    ("log(0)", "log(0) is undefined"),
    ("log(8, 1)", "log base 1 is undefined"),
    ("log10(-5)", "log10(-5) is undefined"),
    ("(-8) ** (1/3)", "not a real number"),
    ("round(2.5, 0.5)", "must be a whole number"),
])
def test_values_outside_a_functions_domain_are_refused(expression, message):
    assert message in _refusal(expression).message


@pytest.mark.parametrize("expression", ["1/0", "1 // 0", "1 % 0", "1.5 / 0.0", "0 ** -1", "5 / (3 - 3)"])
def test_division_by_zero_is_refused(expression):
    assert "division by zero" in _refusal(expression).message


@pytest.mark.parametrize(("expression", "message"), [
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__('os').system('true')", "only the listed functions can be called"),
    ("().__class__", "attribute access"),
    ("(1).__class__.__bases__", "attribute access"),
    ("(lambda: 1)()", "only the listed functions can be called"),
    ("lambda: 1", "lambda functions are not allowed"),
    ("[x for x in (1, 2)]", "comprehensions are not allowed"),
    ("sum(x for x in (1, 2))", "unknown function 'sum'"),
    ("max(x for x in (1, 2))", "comprehensions and generators are not allowed"),
    ("'abc'", "strings are not allowed"),
    ("'a' * 10", "strings are not allowed"),
    ("f'{1}'", "strings are not allowed"),
    ("b'x'", "strings are not allowed"),
    ("x + 1", "unknown name 'x'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("sqrt", "sqrt is a function: call it"),
    ("abs(x=1)", "takes no keyword arguments"),
    ("max(*(1, 2))", "'*' unpacking is not allowed"),
    ("sqrt(1, 2)", "sqrt got 2 argument(s)"),
    ("log(1, 2, 3)", "log got 3 argument(s)"),
    ("min()", "min got 0 argument(s)"),
    ("1 < 2", "comparisons"),
    ("1 and 2", "'and' / 'or' are not supported"),
    ("1 if 1 else 0", "conditional expressions"),
    ("True + 1", "True is not a number"),
    ("None", "None is not a number"),
    ("2j", "complex numbers"),
    ("(y := 3)", "assignment"),
    ("~1", "the operator '~' is not supported"),
    ("not 1", "the operator 'not' is not supported"),
    ("1 << 10000", "the operator '<<' is not supported"),
    ("6 & 3", "the operator '&' is not supported"),
    ("[1, 2]", "lists are not allowed"),
    ("(1, 2)[0]", "indexing and slicing"),
    ("{1: 2}", "dicts are not allowed"),
    ("{1}", "sets are not allowed"),
    ("1, 000", "a comma may only separate a function's arguments"),
    ("2 +", "not a valid expression"),
    ("import os", "not a valid expression"),
    ("x = 1", "not a valid expression"),
])
def test_anything_but_arithmetic_is_refused(expression, message):
    assert message in _refusal(expression).message


def test_caret_is_refused_with_a_pointer_to_the_power_operator():
    error = _refusal("2^3")
    assert error.message == "'^' is bitwise XOR in Python, not a power"
    assert "**" in error.hint


def test_a_forbidden_part_anywhere_stops_the_whole_expression_before_computing():
    # the bomb on the left would take forever if it were evaluated before the check
    assert "attribute access" in _refusal("9**9**9 + ().__class__").message


def test_deep_nesting_is_refused():
    assert "nested too deeply" in _refusal("-" * 60 + "1").message
    assert "nested too deeply" in _refusal("sqrt(" * 60 + "1" + ")" * 60).message
    assert "too many nested parentheses" in _refusal("(" * 201 + "1" + ")" * 201).message


def test_nesting_up_to_the_limit_is_fine():
    assert evaluate("-" * 40 + "1") == 1
    assert evaluate("abs(" * 40 + "-2" + ")" * 40) == 2


def test_expressions_over_500_characters_are_refused():
    error = _refusal("1+" * 250 + "1")
    assert error.message == "the expression is 501 characters long; the limit is 500"
    assert len(error.got) <= 101  # the echo is clipped


def test_blank_expression_is_refused():
    assert _refusal("   ").message == "the expression is empty"


async def test_a_refusal_reaches_the_model_as_a_validation_error_on_expression():
    res = await _pipeline().call(ToolCallRequest("calculator", '{"expression": "9**9**9"}'))
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "expression"
    assert res.error.details[0]["got"] == "9**9**9"


async def test_an_over_long_expression_is_rejected_by_the_schema_before_running():
    res = await _pipeline().call(ToolCallRequest("calculator", {"expression": "1+" * 300 + "1"}))
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "expression"
    assert res.attempts == 0  # never executed


def test_calculator_is_low_risk_read_only_and_documents_its_limit():
    assert calculator.risk == Risk.LOW
    assert calculator.read_only is True
    assert calculator.parameters["properties"]["expression"]["maxLength"] == 500
    assert "**" in calculator.description


def test_the_module_never_calls_eval_exec_or_compile():
    tree = ast.parse(inspect.getsource(calculator_module))
    called = {
        node.func.id for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__"}
