"""VAT on prices in cents, by country code."""

VAT_PERCENT = {"DE": 19, "FR": 20, "NL": 21}


def add_vat(cents: int, country: str = "DE") -> int:
    """The gross price: ``cents`` plus the country's VAT, rounded to the cent."""
    return cents + round(cents * VAT_PERCENT[country] / 100)
