"""Server-side analytics events to Segment (integration `analytics`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_analytics(transport, customer, order):
    segment = client("analytics", transport)
    segment.track("cus_1", "Viewed", {"page": "home"})
    req = transport.last
    assert req.url == "https://api.segment.io/v1/track"
    body = req.json()
    assert body["userId"] == "cus_1" and body["event"] == "Viewed" and body["properties"] == {"page": "home"}
    assert body["timestamp"]
    assert (req.header("Authorization") or "").startswith("Basic ")
    segment.identify(customer)
    assert transport.last.url.endswith("/identify")
    assert transport.last.json()["traits"]["email"] == "ada@example.com"
    segment.order_completed(order)
    body = transport.last.json()
    assert body["event"] == "Order Completed"
    props = body["properties"]
    assert props["order_id"] == order.id and abs(float(props["total"]) - order.subtotal / 100) < 1e-9
    assert {p["sku"] for p in props["products"]} == {"MUG-01", "TEA-07"}
    assert any(abs(float(p["price"]) - 18.0) < 1e-9 for p in props["products"])
