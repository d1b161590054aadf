"""Amounts are integers in the currency's minor unit; CURRENCIES gives each currency's decimals."""

from decimal import Decimal

CURRENCIES = {
    "EUR": 2,
    "USD": 2,
}


def format_amount(minor: int, currency: str) -> str:
    """1250, "EUR" -> "12.50 EUR" (as printed on invoices and receipts)."""
    exp = CURRENCIES[currency]
    sign = "-" if minor < 0 else ""
    units, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{units}.{frac:0{exp}d} {currency}" if exp else f"{sign}{units} {currency}"


def parse_amount(text: str) -> tuple[int, str]:
    """"12.50 EUR" -> (1250, "EUR"): reads amounts back from the payment provider's CSV."""
    number, currency = text.split()
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}")
    return int(Decimal(number) * 100), currency
