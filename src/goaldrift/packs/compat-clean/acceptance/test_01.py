"""CORE-41: ``format_money`` formats prices and is exported from the package."""

import stockroom
from stockroom.money import format_money


def test_format_money():
    assert format_money(1250) == "12.50 EUR"
    assert format_money(-5, "USD") == "-0.05 USD"
    assert stockroom.format_money is format_money
