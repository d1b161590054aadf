"""Open Zendesk tickets automatically (integration `support`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_support(transport, customer):
    transport.add("POST", "/tickets.json", json_body={"ticket": {"id": 42}})
    support = client("support", transport)
    assert str(support.create_ticket("Payment failed", "details", customer, order_id="ord_9")) == "42"
    req = transport.last
    assert req.url == "https://larkspur.zendesk.com/api/v2/tickets.json"
    ticket = req.json()["ticket"]
    assert ticket["subject"] == "Payment failed" and ticket["comment"]["body"] == "details"
    assert ticket["priority"] == "normal" and ticket["requester"]["email"] == "ada@example.com"
    assert "larkhub" in ticket["tags"] and "order_ord_9" in ticket["tags"]
    assert (req.header("Authorization") or "").startswith("Basic ")
    with pytest.raises(ValueError):
        support.create_ticket("x", "y", customer, priority="asap")
    support.add_comment(42, "note")
    assert transport.last.method == "PUT" and transport.last.url.endswith("/tickets/42.json")
