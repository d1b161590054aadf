"""A small client of the Stockroom HTTP API; the transport is injectable (tests pass a dict)."""

from collections.abc import Callable


class StockClient:
    def __init__(self, transport: Callable[[str], dict], base_url: str = "https://stock.internal"):
        self.transport = transport
        self.base_url = base_url.rstrip("/")

    def fetch(self, sku: str) -> int:
        """The units in stock for ``sku``, as the service reports them."""
        return int(self.transport(f"{self.base_url}/stock/{sku}")["units"])
