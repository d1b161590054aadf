"""In-memory repository of customers and orders (the production build swaps in Postgres)."""

from __future__ import annotations

import itertools

from larkhub.core.events import EventBus, bus
from larkhub.core.models import Address, Customer, LineItem, Order, OrderStatus


class NotFound(KeyError):
    pass


class Store:
    def __init__(self, events: EventBus | None = None):
        self.customers: dict[str, Customer] = {}
        self.orders: dict[str, Order] = {}
        self.events = events or bus
        self._ids = itertools.count(1001)

    def add_customer(self, customer: Customer) -> Customer:
        self.customers[customer.id] = customer
        self.events.publish("customer.created", customer=customer)
        return customer

    def customer(self, customer_id: str) -> Customer:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id}") from None

    def place_order(self, customer_id: str, items: list[LineItem], currency: str = "EUR") -> Order:
        self.customer(customer_id)
        order = Order(id=f"ord_{next(self._ids)}", customer_id=customer_id, items=list(items), currency=currency)
        self.orders[order.id] = order
        self.events.publish("order.placed", order=order)
        return order

    def order(self, order_id: str) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise NotFound(f"order {order_id}") from None

    def set_status(self, order_id: str, status: OrderStatus) -> Order:
        order = self.order(order_id)
        order.status = status
        self.events.publish(f"order.{status.value}", order=order)
        return order


def demo_store(events: EventBus | None = None) -> Store:
    """A small data set for the CLI's ``serve --demo`` and for tests."""
    store = Store(events or EventBus())
    store.add_customer(
        Customer(
            id="cus_1",
            name="Ada Byrne",
            email="ada@example.com",
            phone="+353861234567",
            address=Address("12 Harbour Row", "Cork", "T12 X2Y3", "IE"),
        )
    )
    store.add_customer(Customer(id="cus_2", name="Jonas Weber", email="jonas@example.org", phone="+4915112345678"))
    store.place_order(
        "cus_1",
        [
            LineItem("MUG-01", "Stoneware mug", 2, 1800, weight_grams=450),
            LineItem("TEA-07", "Loose leaf tea 250g", 1, 1250, weight_grams=260),
        ],
    )
    return store
