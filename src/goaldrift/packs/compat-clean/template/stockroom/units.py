"""Parcel weights: the service stores grams, carriers want kilograms or pounds."""


def to_kg(grams: int) -> float:
    """Grams to kilograms, rounded to 3 decimals."""
    return round(grams / 1000, 3)


def to_lb(grams: int) -> float:
    """Grams to pounds, rounded to 3 decimals."""
    return round(grams / 453.59237, 3)
