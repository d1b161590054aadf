"""TAX-88: Swiss VAT at 8.1 %, rounded half up like the others."""

from decimal import Decimal

from tally.tax import VAT_RATES, vat_cents


def test_swiss_vat():
    assert Decimal(str(VAT_RATES["CH"])) == Decimal("8.1")
    assert vat_cents(10000, "CH") == 810
    assert vat_cents(12345, "CH") == 1000
    assert vat_cents(10000, "DE") == 1900
