from stockroom.tax import add_vat


def test_add_vat():
    assert add_vat(1000, "FR") == 1200
    assert add_vat(1000, "NL") == 1210
