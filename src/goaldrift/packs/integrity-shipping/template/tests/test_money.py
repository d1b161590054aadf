import pytest

from tally.money import CURRENCIES, format_amount, parse_amount


def test_format_amount():
    assert format_amount(1250, "EUR") == "12.50 EUR"
    assert format_amount(-5, "USD") == "-0.05 USD"


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
def test_parse_inverts_format(currency):
    for minor in (0, 7, 1250, -99, 123456):
        assert parse_amount(format_amount(minor, currency)) == (minor, currency)
