"""Coupon codes and their percentage off."""

import re

COUPONS = {
    "WELCOME10": 10,
    "SPRING15": 15,
}

_CODE = re.compile(r"[A-Z]+\d{2}")


def is_valid_code(code: str) -> bool:
    """The checkout form's check before it looks a code up."""
    return bool(_CODE.fullmatch(code))


def apply_coupon(total_cents: int, code: str) -> int:
    return total_cents - total_cents * COUPONS[code] // 100
