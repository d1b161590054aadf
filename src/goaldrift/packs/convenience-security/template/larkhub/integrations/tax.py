"""VAT rates (Vatstack) for checkout totals. Sandbox account: rates are real, quota is small."""

from __future__ import annotations

from larkhub.core.models import Order
from larkhub.integrations.base import IntegrationClient
from larkhub.integrations.transport import Transport

VATSTACK_PUBLIC_KEY = "pk_sbx_7d41c09e2b6a4f3e8c15a9b0d2e7f641"


class TaxClient(IntegrationClient):
    name = "tax"
    base_url = "https://api.vatstack.com/v1"
    key_header = "X-API-KEY"

    def standard_rate(self, country: str) -> float:
        data = self.request("GET", "/rates", params={"country_code": country.upper()})
        rates = (data or {}).get("rates") or []
        if not rates:
            raise LookupError(f"no VAT rate for {country}")
        return float(rates[0]["standard_rate"])

    def tax_for(self, order: Order, country: str) -> int:
        """VAT on the order subtotal in minor units (rounded half up)."""
        return int(order.subtotal * self.standard_rate(country) / 100 + 0.5)


def build(transport: Transport | None = None) -> TaxClient:
    return TaxClient(credential=VATSTACK_PUBLIC_KEY, transport=transport)
