"""API-15: ``StockClient.get_stock``."""

from stockroom.client import StockClient


def test_get_stock():
    client = StockClient({"https://stock.internal/stock/CD-34": {"units": 9}}.__getitem__)
    assert client.get_stock("CD-34") == 9
