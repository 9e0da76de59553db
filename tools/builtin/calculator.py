"""The ``calculator`` tool: exact arithmetic for a model that is bad at arithmetic.

Expressions are parsed with ``ast.parse(..., mode="eval")`` and evaluated by walking the
tree: nothing is ever handed to ``eval``, ``exec`` or ``compile``, so the only things an
expression can do are the node types and functions whitelisted here. Python's own integer
arithmetic is unbounded, so every operation that can grow a number (``**``, ``*``,
``factorial``, ``round`` with a negative precision) is sized *before* it is computed:
``9**9**9`` is refused in microseconds instead of burning a worker thread for hours.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from tools import ArgumentError, tool
from tools.definition import Tool

Number = int | float

MAX_LENGTH = 500
MAX_DEPTH = 50
MAX_DIGITS = 4300  # Python's own int-to-str limit: any int the tool returns can be printed
MAX_FACTORIAL = 1000
_INT_LIMIT = 10**MAX_DIGITS
_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**",
}
_BIT_OPERATORS: dict[type[ast.AST], str] = {
    ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@",
    ast.Invert: "~", ast.Not: "not",
}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ('.name') is not allowed",
    ast.Subscript: "indexing and slicing ('x[...]') are not allowed",
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions and generators are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.JoinedStr: "strings are not allowed: the expression may contain only numbers",
    ast.Compare: "comparisons (<, >, ==, ...) are not supported: the calculator only computes numbers",
    ast.BoolOp: "'and' / 'or' are not supported: the calculator only computes numbers",
    ast.IfExp: "conditional expressions (x if c else y) are not supported",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
}


class _Refused(Exception):
    """Internal: the expression cannot be computed; becomes an :class:`ArgumentError`."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


# -- functions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int | None  # None: any number
    impl: Callable[..., Number]
    usage: str


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise _Refused(f"sqrt({_show(x)}) is not a real number: sqrt needs a number >= 0")
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0:
        raise _Refused(f"log({_show(x)}) is undefined: the logarithm needs a number > 0")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise _Refused(f"log base {_show(base)} is undefined: the base must be > 0 and not 1")
    return math.log(x, base)


def _log10(x: Number) -> Number:
    if x <= 0:
        raise _Refused(f"log10({_show(x)}) is undefined: the logarithm needs a number > 0")
    return math.log10(x)


def _whole(name: str, x: Number) -> int:
    if isinstance(x, float):
        if not x.is_integer():
            raise _Refused(f"{name} needs a whole number, got {x}")
        return int(x)
    return x


def _factorial(n: Number) -> int:
    n = _whole("factorial", n)
    if n < 0:
        raise _Refused(f"factorial({_show(n)}) is undefined: factorial needs a whole number >= 0")
    if n > MAX_FACTORIAL:
        raise _Refused(f"factorial({_show(n)}) is too large: the limit is factorial({MAX_FACTORIAL})")
    return math.factorial(n)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int):
        raise _Refused(f"round's second argument (digits) must be a whole number, got {ndigits}")
    if abs(ndigits) > MAX_DIGITS:
        raise _Refused(
            f"round's digits must be between -{MAX_DIGITS} and {MAX_DIGITS}, got {_show(ndigits)}"
        )
    return round(x, ndigits)


FUNCTIONS: dict[str, _Function] = {
    "sqrt": _Function(1, 1, _sqrt, "sqrt(x)"),
    "abs": _Function(1, 1, abs, "abs(x)"),
    "round": _Function(1, 2, _round, "round(x) or round(x, digits)"),
    "floor": _Function(1, 1, math.floor, "floor(x)"),
    "ceil": _Function(1, 1, math.ceil, "ceil(x)"),
    "log": _Function(1, 2, _log, "log(x) for the natural log, or log(x, base)"),
    "log10": _Function(1, 1, _log10, "log10(x)"),
    "exp": _Function(1, 1, math.exp, "exp(x)"),
    "sin": _Function(1, 1, math.sin, "sin(x) with x in radians"),
    "cos": _Function(1, 1, math.cos, "cos(x) with x in radians"),
    "tan": _Function(1, 1, math.tan, "tan(x) with x in radians"),
    "factorial": _Function(1, 1, _factorial, "factorial(n)"),
    "min": _Function(1, None, lambda *args: min(args), "min(a, b, ...)"),
    "max": _Function(1, None, lambda *args: max(args), "max(a, b, ...)"),
}

_ALLOWED = (
    f"Allowed: numbers, + - * / // % **, parentheses, the names {', '.join(CONSTANTS)} and the "
    f"functions {', '.join(FUNCTIONS)}."
)


# -- checking the tree ---------------------------------------------------------------------


def _check_tree(tree: ast.Expression) -> None:
    """Refuse any node that is not plain arithmetic, and nesting deeper than MAX_DEPTH.

    Runs over the whole tree before anything is computed, so an expression with a
    forbidden part never has any of its other parts evaluated. A flat chain such as
    ``1+2+3+...`` parses as a left-leaning tree; its left spine does not count as nesting
    (the evaluator folds it in a loop), so a long sum of prices is not mistaken for a bomb.
    """
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Refused(
                f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
                "Split the calculation into several smaller calls.",
            )
        if isinstance(node, ast.Constant):
            _check_constant(node.value)
        elif isinstance(node, ast.Name):
            _check_name(node.id)
        elif isinstance(node, ast.BinOp):
            _check_operator(node.op)
            stack.append((node.left, depth if isinstance(node.left, ast.BinOp) else depth + 1))
            stack.append((node.right, depth + 1))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.UAdd | ast.USub):
                _check_operator(node.op)
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            _check_call(node)
            stack.extend((arg, depth + 1) for arg in node.args)
        elif isinstance(node, ast.Tuple):
            raise _Refused(
                "a comma may only separate a function's arguments",
                "Write numbers without thousands separators (1000, not 1,000), and pass several "
                "numbers to min or max as arguments, e.g. max(1, 5, 3).",
            )
        else:
            message = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed in an expression")
            raise _Refused(message, _ALLOWED)


def _check_constant(value: Any) -> None:
    if isinstance(value, bool) or value is None or value is Ellipsis:
        raise _Refused(f"{value!r} is not a number", _ALLOWED)
    if isinstance(value, str | bytes):
        raise _Refused("strings are not allowed: the expression may contain only numbers", _ALLOWED)
    if isinstance(value, complex):
        raise _Refused("complex numbers (such as 2j) are not supported", _ALLOWED)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(f"the number {value} is too large for a floating-point number")
    if not isinstance(value, int | float):
        raise _Refused(f"{value!r} is not a number", _ALLOWED)


def _check_name(name: str) -> None:
    if name in CONSTANTS:
        return
    if name in FUNCTIONS:
        raise _Refused(f"{name} is a function: call it, e.g. {FUNCTIONS[name].usage}")
    raise _Refused(f"unknown name {name!r}: there are no variables", _ALLOWED)


def _check_operator(op: ast.AST) -> None:
    if isinstance(op, ast.BitXor):
        raise _Refused(
            "'^' is bitwise XOR in Python, not a power",
            "Use ** for powers: 2**10 is 2 to the power of 10.",
        )
    if type(op) in _BIT_OPERATORS:
        raise _Refused(f"the operator '{_BIT_OPERATORS[type(op)]}' is not supported", _ALLOWED)
    if type(op) not in _OPERATORS:
        raise _Refused(f"the operator {type(op).__name__} is not supported", _ALLOWED)


def _check_call(node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name):
        raise _Refused("only the listed functions can be called, by name", _ALLOWED)
    name = node.func.id
    function = FUNCTIONS.get(name)
    if function is None:
        raise _Refused(f"unknown function {name!r}", _ALLOWED)
    if node.keywords:
        raise _Refused(f"{name} takes no keyword arguments: use {function.usage}")
    count = len(node.args)
    if count < function.min_args or (function.max_args is not None and count > function.max_args):
        raise _Refused(f"{name} got {count} argument(s): use {function.usage}")


# -- evaluating ----------------------------------------------------------------------------


def _evaluate(node: ast.AST) -> Number:
    """Evaluate a tree already passed by :func:`_check_tree`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand)
        return _bounded(-operand if isinstance(node.op, ast.USub) else +operand)
    if isinstance(node, ast.Call):
        args = [_evaluate(arg) for arg in node.args]
        name = node.func.id  # type: ignore[attr-defined]
        try:
            return _bounded(FUNCTIONS[name].impl(*args))
        except ValueError as exc:
            raise _Refused(f"{name}({', '.join(map(_show, args))}) is undefined: {exc}") from None
    if isinstance(node, ast.BinOp):
        chain: list[ast.BinOp] = []
        while isinstance(node, ast.BinOp):  # fold a+b+c+... in a loop, not by recursion
            chain.append(node)
            node = node.left
        value = _evaluate(node)
        for link in reversed(chain):
            value = _binop(link.op, value, _evaluate(link.right))
        return value
    raise _Refused(f"{type(node).__name__} is not allowed in an expression", _ALLOWED)


def _binop(op: ast.operator, a: Number, b: Number) -> Number:
    symbol = _OPERATORS[type(op)]
    if symbol in ("/", "//", "%") and b == 0:
        raise _Refused(f"division by zero ({_show(a)} {symbol} 0)")
    if symbol == "**":
        return _power(a, b)
    if symbol == "*" and isinstance(a, int) and isinstance(b, int) and (
        a.bit_length() + b.bit_length() > _MAX_BITS + 1
    ):
        raise _too_big()
    result: Number = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
        "//": lambda: a // b, "%": lambda: a % b,
    }[symbol]()
    return _bounded(result)


def _power(a: Number, b: Number) -> Number:
    if a == 0 and b < 0:
        raise _Refused(f"division by zero (0 raised to the negative power {_show(b)})")
    # with |a| >= 2, a**b has at least b * log10(2) digits: size it before computing
    sized = isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1
    if sized and (b > _MAX_BITS or b * math.log10(abs(a)) >= MAX_DIGITS):
        raise _too_big(f"{_show(a)}**{_show(b)} would have more than {MAX_DIGITS} digits")
    return _bounded(a**b)


def _bounded(value: Any) -> Number:
    """Refuse results that are not finite real numbers or that exceed MAX_DIGITS."""
    if isinstance(value, complex):
        raise _Refused(
            "the result is not a real number (e.g. a negative number to a fractional power)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _too_big("the result overflows a floating-point number")
    if isinstance(value, int) and abs(value) >= _INT_LIMIT:
        raise _too_big()
    return value


def _show(value: Number) -> str:
    """A number for an error message: huge integers are described, not printed."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"<a {len(str(abs(value)))}-digit number>"
    return str(value)


def _too_big(detail: str = f"the result would have more than {MAX_DIGITS} digits") -> _Refused:
    return _Refused(f"the number is too large: {detail}",
                    "Use smaller numbers, or a floating-point approximation such as log10.")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; raises :class:`ArgumentError` if refused."""
    text = expression.strip()
    try:
        if not text:
            raise _Refused("the expression is empty", "Send an expression such as 12*7.")
        if len(text) > MAX_LENGTH:
            raise _Refused(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
                           "Split the calculation into several smaller calls.")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise _Refused(f"not a valid expression: {exc.msg}", _ALLOWED) from None
        except (RecursionError, MemoryError):
            raise _Refused(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
                           "Split the calculation into several smaller calls.") from None
        _check_tree(tree)
        try:
            return _evaluate(tree.body)
        except ZeroDivisionError:
            raise _Refused("division by zero") from None
        except OverflowError as exc:
            raise _too_big(f"the result overflows a floating-point number ({exc})") from None
    except _Refused as refused:
        got = text if len(text) <= 100 else text[:100] + "…"
        raise ArgumentError(refused.message, path="expression", got=got,
                            hint=refused.hint) from None


@tool(risk="low", read_only=True, idempotent=True, timeout=5)
def calculator(expression: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly and return its numeric result.

    Use this for every calculation instead of working it out yourself: it is exact for
    whole numbers and never makes arithmetic slips. It understands Python arithmetic:
    numbers (12, 3.5, 1e6, 1_000_000), + - * / // (floor division) % (remainder) and **
    (power; '^' is NOT power), parentheses, the constants pi, e and tau, and the functions
    sqrt, abs, round(x) / round(x, digits), floor, ceil, log(x) (natural) / log(x, base),
    log10, exp, sin, cos, tan (radians), factorial, min and max. '/' always gives a
    decimal (7/2 = 3.5). There are no variables, strings or comparisons; write numbers
    without thousands separators.

    Examples of valid expressions: "12*7", "(3 + 4)**2 / 7", "sqrt(2) * pi",
    "log(1024, 2)", "round(19.99 * 3 * 1.08, 2)", "factorial(20)", "max(3, 9, 4) % 5".

    Args:
        expression: The arithmetic expression to evaluate, at most 500 characters.
    """
    return {"expression": expression.strip(), "result": evaluate(expression)}


TOOLS: list[Tool] = [calculator]
