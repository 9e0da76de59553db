"""A tool's pre-check runs with validation, before the gate (tools/definition.py, pipeline).

A call the tool would refuse anyway fails at once with the tool's own error; the gate is
never asked, so such a call never waits for a human.
"""

from __future__ import annotations

import pytest

from tests.tools.pipeline_helpers import Counter, pipeline, req
from tools import ArgumentError, ToolContext, tool
from tools.errors import ToolDefinitionError
from tools.gate import GateDecision, PreparedCall
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

seen: list[tuple[dict, ToolContext]] = []


def no_negative(arguments: dict, ctx: ToolContext) -> None:
    seen.append((arguments, ctx))
    if arguments["amount"] < 0:
        raise ArgumentError("amount must not be negative", path="amount", got=arguments["amount"],
                            hint="Pay a positive amount.")


async def no_negative_async(arguments: dict, ctx: ToolContext) -> None:
    no_negative(arguments, ctx)


def make_pay(counter: Counter, check=no_negative):
    @tool(risk="high", precheck=check)
    def pay(amount: int, currency: str = "EUR") -> dict:
        """Pay an amount."""
        counter.enter()
        counter.exit()
        if amount < 0:
            raise ArgumentError("amount must not be negative", path="amount")
        return {"paid": amount}

    return pay


class ParkEverything:
    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, call: PreparedCall) -> GateDecision:
        self.asked += 1
        return GateDecision.require_approval(rule="park", reason="a human looks at every payment")


@pytest.fixture(autouse=True)
def _clear_seen():
    seen.clear()


@pytest.mark.parametrize("check", [no_negative, no_negative_async])
async def test_a_call_the_precheck_refuses_fails_at_once_and_never_reaches_the_gate(user, check):
    counter, gate = Counter(), ParkEverything()
    result = await pipeline(make_pay(counter, check), gate=gate).call(
        req("pay", {"amount": -5}, call_id="c1"), ToolContext(user=user))
    assert result.status == "error" and result.error.type == "validation_error"
    assert result.error.message == "invalid arguments for pay: amount must not be negative"
    assert result.error.details == [{"path": "amount", "problem": "amount must not be negative", "got": -5}]
    assert result.error.hint == "Pay a positive amount."
    assert gate.asked == 0 and counter.calls == 0
    row = await ToolCall.objects.aget(pk=result.record_id)
    assert row.status == ToolCall.Status.REJECTED and row.error_type == "validation_error"
    assert row.arguments == {"amount": -5, "currency": "EUR"} and row.gate_action == ""


async def test_the_precheck_gets_the_validated_arguments_and_the_context(user):
    counter, gate = Counter(), ParkEverything()
    result = await pipeline(make_pay(counter), gate=gate).call(req("pay", '{"amount": 7}', call_id="c2"),
                                                               ToolContext(user=user))
    assert result.status == "pending" and gate.asked == 1 and counter.calls == 0
    [(arguments, ctx)] = seen
    assert arguments == {"amount": 7, "currency": "EUR"}
    assert ctx.user == user and ctx.call_id == "c2"


async def test_a_precheck_that_raises_anything_else_is_the_tools_execution_error(user):
    def broken(arguments, ctx):
        raise PermissionError("no workspace for you")

    p = pipeline(make_pay(Counter(), broken), gate=ParkEverything())
    result = await p.call(req("pay", {"amount": 1}))
    assert result.error.type == "execution_error"
    assert result.error.message == "pay failed: PermissionError: no workspace for you"


def test_a_precheck_that_is_not_callable_is_refused_at_definition():
    with pytest.raises(ToolDefinitionError, match="tool 'pay': precheck must be a function"):
        @tool(precheck="sql")
        def pay(amount: int) -> int:
            """Pay."""
            return amount
