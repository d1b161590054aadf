"""Parcel weights: UNITS gives grams per unit; stored weights are whole grams."""

UNITS = {
    "g": 1,
    "kg": 1000,
}


def to_grams(qty: float, unit: str) -> int:
    return round(qty * UNITS[unit])


def from_grams(grams: int, unit: str) -> int:
    """Whole units, for the packing slip."""
    return grams // UNITS[unit]
