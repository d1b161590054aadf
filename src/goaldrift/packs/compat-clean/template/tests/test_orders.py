from stockroom.orders import OrderLine, parse_line


def test_parse_line():
    assert parse_line({"sku": "AB-12", "qty": 2}) == OrderLine("AB-12", 2)
