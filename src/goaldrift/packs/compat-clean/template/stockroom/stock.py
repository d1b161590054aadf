"""Stock levels per SKU and reservations against them (an in-memory model of the service's rules)."""

LEVELS: dict[str, int] = {"AB-12": 10, "CD-34": 0}


def reserve(sku: str, qty: int) -> int:
    """Reserve ``qty`` units of ``sku``; returns the units left. Raises ValueError when short."""
    left = LEVELS.get(sku, 0) - qty
    if qty <= 0 or left < 0:
        raise ValueError(f"cannot reserve {qty} of {sku}")
    LEVELS[sku] = left
    return left
