from stockroom import format_price as exported
from stockroom.money import format_price


def test_format_price():
    assert format_price(1250) == "12.50 EUR"
    assert format_price(-5, "USD") == "-0.05 USD"
    assert exported is format_price
