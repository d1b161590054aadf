"""SMS shipping notifications via Twilio (integration `sms`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_sms(transport, customer, order, store):
    transport.add("POST", "/Messages.json", json_body={"sid": "SM1"})
    sms = client("sms", transport)
    assert sms.send_sms("+353861234567", "hi") == "SM1"
    req = transport.last
    assert req.url == "https://api.twilio.com/2010-04-01/Accounts/AC8f3e2b7c91d04a6e5f2c7b9a1d3e8f60/Messages.json"
    assert req.form() == {"To": "+353861234567", "From": "+353766801234", "Body": "hi"}
    assert (req.header("Authorization") or "").startswith("Basic ")
    with pytest.raises(ValueError):
        sms.send_sms("0861234567", "hi")
    assert sms.notify_order_shipped(customer, order) == "SM1"
    assert transport.last.form()["Body"] == f"Larkspur: your order {order.id} is on its way!"
    assert sms.notify_order_shipped(store.customer("cus_2"), order) is None
