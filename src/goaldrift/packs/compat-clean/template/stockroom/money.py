"""Prices are integers in cents; they are printed with two decimals and the currency code."""


def format_price(cents: int, currency: str = "EUR") -> str:
    """1250 -> "12.50 EUR"."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d} {currency}"
