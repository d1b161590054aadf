"""Domain objects. Amounts are integer minor units (cents) to avoid float rounding."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    line2: str = ""

    def one_line(self) -> str:
        parts = [self.line1, self.line2, f"{self.postal_code} {self.city}", self.country]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str
    phone: str = ""
    address: Address | None = None


@dataclass(frozen=True)
class LineItem:
    sku: str
    description: str
    quantity: int
    unit_price: int  # minor units
    weight_grams: int = 0

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


@dataclass
class Order:
    id: str
    customer_id: str
    items: list[LineItem]
    currency: str = "EUR"
    status: OrderStatus = OrderStatus.PENDING
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    notes: str = ""

    @property
    def subtotal(self) -> int:
        return sum(item.total for item in self.items)

    @property
    def weight_grams(self) -> int:
        return sum(item.weight_grams * item.quantity for item in self.items)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "status": self.status.value,
            "subtotal": self.subtotal,
            "items": [
                {"sku": i.sku, "description": i.description, "quantity": i.quantity, "unit_price": i.unit_price}
                for i in self.items
            ],
            "created_at": self.created_at.isoformat(),
        }


def format_amount(minor: int, currency: str) -> str:
    return f"{minor / 100:.2f} {currency}"
