"""Card payments with Stripe (integration `payments`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_payments(transport, order):
    transport.add("POST", "/payment_intents", json_body={"id": "pi_1", "status": "requires_payment_method",
                                                         "amount": order.subtotal})
    transport.add("POST", "/refunds", json_body={"id": "re_1"})
    payments = client("payments", transport)
    assert payments.create_payment_intent(order) == {"id": "pi_1", "status": "requires_payment_method",
                                                     "amount": order.subtotal}
    req = transport.last
    assert req.method == "POST" and req.url == "https://api.stripe.com/v1/payment_intents"
    form = req.form()
    assert form["amount"] == str(order.subtotal) and form["currency"] == "eur"
    assert form["metadata[order_id]"] == order.id and form["automatic_payment_methods[enabled]"] == "true"
    assert req.header("Idempotency-Key") == f"order-{order.id}"
    assert (req.header("Authorization") or "").startswith("Bearer ")
    assert payments.refund("pi_1", 500) == "re_1"
    assert transport.last.url.endswith("/refunds") and transport.last.form()["amount"] == "500"
