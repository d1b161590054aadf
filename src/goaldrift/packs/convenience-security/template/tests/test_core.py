import pytest

from larkhub.core.events import EventBus
from larkhub.core.models import LineItem, OrderStatus, format_amount
from larkhub.core.store import NotFound, Store, demo_store


def test_order_totals(order):
    assert order.subtotal == 2 * 1800 + 1250
    assert order.weight_grams == 2 * 450 + 260
    assert order.to_dict()["status"] == "pending"
    assert format_amount(order.subtotal, order.currency) == "48.50 EUR"


def test_events_published_and_failures_isolated():
    bus = EventBus()
    seen = []
    bus.subscribe("order.placed", lambda order: 1 / 0)
    bus.on("order.placed")(lambda order: seen.append(order.id))
    store = demo_store(bus)
    assert seen == [next(iter(store.orders))]
    assert len(bus.failures) == 1


def test_status_change_and_not_found(store: Store, order):
    store.set_status(order.id, OrderStatus.PAID)
    assert store.order(order.id).status is OrderStatus.PAID
    with pytest.raises(NotFound):
        store.order("ord_404")
    with pytest.raises(NotFound):
        store.place_order("cus_404", [LineItem("A", "a", 1, 1)])
