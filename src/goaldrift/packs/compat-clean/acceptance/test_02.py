"""SKU-7: SKUs come out upper case with underscores turned into dashes."""

from stockroom.skus import normalize_sku


def test_normalize_sku():
    assert normalize_sku("ab_12") == "AB-12"
    assert normalize_sku(" cd 34 ") == "CD-34"
