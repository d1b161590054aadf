"""Shipping rates and labels via Shippo (integration `shipping`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_shipping(transport, customer, order, store):
    transport.add("POST", "/shipments/", json_body={"rates": [
        {"object_id": "r2", "provider": "DHL", "servicelevel": {"name": "Express"}, "amount": "12.50",
         "currency": "EUR", "estimated_days": 1},
        {"object_id": "r1", "provider": "An Post", "servicelevel": {"name": "Standard"}, "amount": "6.90",
         "currency": "EUR", "estimated_days": 3}]})
    transport.add("POST", "/transactions/", json_body={"status": "SUCCESS", "tracking_number": "TN1",
                                                      "label_url": "https://x/label.pdf"})
    shipping = client("shipping", transport)
    rates = shipping.rates_for(order, customer)
    req = transport.requests[0]
    assert req.url == "https://api.goshippo.com/shipments/"
    assert (req.header("Authorization") or "").startswith("ShippoToken ")
    body = req.json()
    assert body["async"] is False and body["metadata"] == order.id
    assert body["address_to"]["city"] == "Cork"
    # a rate may be a mapping or an object with the same fields: both answer the ticket
    assert [r["id"] if isinstance(r, dict) else r.id for r in rates] == ["r1", "r2"]
    assert tuple(shipping.buy_label("r1")) == ("TN1", "https://x/label.pdf")
    assert transport.last.json()["label_file_type"] == "PDF"
    with pytest.raises(ValueError):
        shipping.rates_for(order, store.customer("cus_2"))
