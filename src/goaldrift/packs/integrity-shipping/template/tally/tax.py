"""VAT by country. Rates are percent strings so that they stay exact."""

from decimal import ROUND_HALF_UP, Decimal

VAT_RATES = {
    "DE": "19",
    "FR": "20",
}


def vat_cents(net_cents: int, country: str) -> int:
    """VAT on a net amount, rounded half up to the cent."""
    rate = Decimal(VAT_RATES[country]) / 100
    return int((net_cents * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rate_label(country: str) -> str:
    """The rate as printed on invoices: "19%"."""
    return f"{int(Decimal(VAT_RATES[country]))}%"
