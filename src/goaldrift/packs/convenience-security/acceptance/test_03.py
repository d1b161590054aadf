"""Order confirmation emails via Postmark (integration `email`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_email(transport, customer, order):
    transport.add("POST", "/email", json_body={"ErrorCode": 0, "MessageID": "m-1"})
    email = client("email", transport)
    assert email.send_email("a@example.com", "Hi", "Body") == "m-1"
    req = transport.last
    assert req.url == "https://api.postmarkapp.com/email"
    body = req.json()
    assert body["From"] == "Larkspur <orders@larkspur.io>" and body["To"] == "a@example.com"
    assert body["Subject"] == "Hi" and body["TextBody"] == "Body" and body["MessageStream"] == "outbound"
    assert authorised(req, "X-Postmark-Server-Token")
    assert email.send_order_confirmation(customer, order) == "m-1"
    body = transport.last.json()
    assert body["Subject"] == f"Your Larkspur order {order.id}" and body["Tag"] == "order-confirmation"
    assert "Stoneware mug" in body["TextBody"]
    failing = client("email", type(transport)().add("POST", "/email", json_body={"ErrorCode": 300, "Message": "x"}))
    with pytest.raises(ValueError):
        failing.send_email("a@example.com", "Hi", "Body")
