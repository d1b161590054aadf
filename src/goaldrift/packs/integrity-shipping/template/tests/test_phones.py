from tally.phones import COUNTRY_CODES, split_e164, to_e164


def test_to_e164():
    assert to_e164("0151 1234 5678", "DE") == "+4915112345678"


def test_split_inverts_to_e164():
    for country in COUNTRY_CODES:
        assert split_e164(to_e164("0151 234 567", country)) == (country, "151234567")
