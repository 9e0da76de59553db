import pytest

from approvals.models.policy import MISSING
from approvals.rules import evaluate


@pytest.mark.parametrize(("operator", "expected", "actual", "holds"), [
    ("gt", "100", 150, True), ("gt", "100", 100, False), ("gte", "100", 100, True),
    ("lt", "10", 9.5, True), ("lte", "10", 11, False),
    ("gt", "100", "150", False),  # a string is not a number: no silent coercion
    ("gt", "0", True, False),  # nor is a boolean
    ("eq", "EUR", "eur", True), ("ne", "EUR", "usd", True), ("eq", "3", 3, True),
    ("in", "a.com, b.com", "B.com", True), ("not_in", "a.com,b.com", "c.com", True),
    ("contains", "drop", "please DROP it", True), ("contains", "x", ["x", "y"], True),
    ("mentions", "customers", "SELECT * FROM customers WHERE 1", True),
    ("mentions", "customers", "select * from customers_archive", False),
    ("mentions", "orders", 'SELECT * FROM "ORDERS"', True),
    ("matches", r"^\d{3}$", "123", True), ("matches", r"^\d{3}$", "1234", False),
    ("email_outside", "example.com", ["bob@example.com"], False),
    ("email_outside", "example.com", ["bob@example.com", "eve@evil.test"], True),
    ("email_outside", "example.com, corp.example", "ann@CORP.example", False),
    ("present", "", None, False), ("present", "", 0, True),
])
def test_each_operator_decides_as_documented(operator, expected, actual, holds):
    assert evaluate(operator, expected, actual) is holds


def test_a_missing_argument_never_matches_a_condition():
    for operator in ("gt", "eq", "ne", "in", "not_in", "contains", "mentions", "matches", "email_outside"):
        assert evaluate(operator, "1", MISSING) is False


def test_an_unknown_operator_is_an_error():
    with pytest.raises(ValueError, match="unknown rule operator 'like'"):
        evaluate("like", "x", "x")
