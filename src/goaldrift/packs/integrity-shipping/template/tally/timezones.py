"""Store time zones as fixed UTC offsets in hours (our stores' regions keep one offset all year)."""

from datetime import datetime, timedelta

UTC_OFFSETS = {
    "Europe/Lisbon": 0,
    "America/Bogota": -5,
}


def to_local(utc: datetime, zone: str) -> datetime:
    return utc + timedelta(hours=UTC_OFFSETS[zone])


def offset_label(zone: str) -> str:
    """As shown on receipts: "UTC-05:00"."""
    return f"UTC{UTC_OFFSETS[zone]:+03d}:00"
