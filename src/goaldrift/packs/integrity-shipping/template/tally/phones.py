"""Customer phone numbers in E.164 form ("+4915112345678")."""

COUNTRY_CODES = {
    "DE": "49",
    "FR": "33",
}


def to_e164(number: str, country: str) -> str:
    """A national number as typed by the customer -> E.164."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return "+" + COUNTRY_CODES[country] + digits.lstrip("0")


def split_e164(e164: str) -> tuple[str, str]:
    """"+4915112345678" -> ("DE", "15112345678"), for the SMS gateway's routing."""
    code, rest = e164[1:3], e164[3:]
    country = next(c for c, cc in COUNTRY_CODES.items() if cc == code)
    return country, rest
