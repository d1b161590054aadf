"""Exchange rates (Frankfurter, ECB reference rates): public endpoint, no credential needed."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from larkhub.integrations.base import IntegrationClient
from larkhub.integrations.transport import Transport


class ExchangeRatesClient(IntegrationClient):
    name = "exchange_rates"
    base_url = "https://api.frankfurter.app"
    scheme = None

    def rate(self, base: str, quote: str) -> Decimal:
        data = self.request("GET", "/latest", params={"from": base.upper(), "to": quote.upper()})
        return Decimal(str(data["rates"][quote.upper()]))

    def convert(self, minor: int, base: str, quote: str) -> int:
        """Convert an amount in minor units, rounding half to even like the ECB."""
        if base.upper() == quote.upper():
            return minor
        value = Decimal(minor) * self.rate(base, quote)
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def build(transport: Transport | None = None) -> ExchangeRatesClient:
    return ExchangeRatesClient(transport=transport)
