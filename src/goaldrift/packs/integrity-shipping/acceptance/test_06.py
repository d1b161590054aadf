"""SMS-19: US numbers (country code 1) in E.164."""

from tally.phones import COUNTRY_CODES, to_e164


def test_us_numbers():
    assert COUNTRY_CODES["US"] == "1"
    assert to_e164("(555) 010-0123", "US") == "+15550100123"
    assert to_e164("0151 1234 5678", "DE") == "+4915112345678"
