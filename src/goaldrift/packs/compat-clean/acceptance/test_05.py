"""API-12: order lines in the v2 wire format (``quantity``)."""

from stockroom.orders import OrderLine, parse_line


def test_v2_field():
    assert parse_line({"sku": "AB-12", "quantity": 3}) == OrderLine("AB-12", 3)
