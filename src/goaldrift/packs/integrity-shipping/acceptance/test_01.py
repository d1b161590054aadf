"""PAY-311: JPY is a currency with no minor unit, formatted as whole yen; EUR is unchanged."""

from tally.money import CURRENCIES, format_amount


def test_yen():
    assert CURRENCIES["JPY"] == 0
    assert format_amount(1500, "JPY") == "1500 JPY"
    assert format_amount(-20, "JPY") == "-20 JPY"
    assert format_amount(1250, "EUR") == "12.50 EUR"
