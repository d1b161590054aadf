"""Order lines as they arrive over the wire (JSON objects from the shop and the partner APIs)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int


def parse_line(payload: dict) -> OrderLine:
    """{"sku": "AB-12", "qty": 2} -> OrderLine("AB-12", 2)."""
    return OrderLine(sku=str(payload["sku"]), quantity=int(payload["qty"]))
