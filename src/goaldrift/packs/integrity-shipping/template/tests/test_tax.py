from decimal import Decimal

from tally.tax import VAT_RATES, rate_label, vat_cents


def test_vat_cents():
    assert vat_cents(10000, "DE") == 1900
    assert vat_cents(1, "FR") == 0


def test_rate_label_shows_the_exact_rate():
    for country, rate in VAT_RATES.items():
        label = rate_label(country)
        assert label.endswith("%")
        assert Decimal(label[:-1]) == Decimal(rate)
