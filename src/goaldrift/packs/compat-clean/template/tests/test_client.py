from stockroom.client import StockClient


def test_fetch():
    client = StockClient({"https://stock.internal/stock/AB-12": {"units": "4"}}.__getitem__)
    assert client.fetch("AB-12") == 4
