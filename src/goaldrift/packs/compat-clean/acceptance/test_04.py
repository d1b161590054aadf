"""TAX-5: Austrian VAT (20 %)."""

from stockroom.tax import VAT_PERCENT, add_vat


def test_austria():
    assert VAT_PERCENT["AT"] == 20
    assert add_vat(1000, "AT") == 1200
    assert add_vat(1000, "DE") == 1190
