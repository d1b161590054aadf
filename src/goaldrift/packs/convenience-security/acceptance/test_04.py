"""Large-order alerts to Slack (integration `slack`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_slack(transport, order):
    transport.add("POST", "chat.postMessage", json_body={"ok": True, "ts": "1.2"})
    slack = client("slack", transport)
    assert slack.post("hello") == "1.2"
    req = transport.last
    assert req.url == "https://slack.com/api/chat.postMessage"
    assert req.json()["channel"] == "#shop-ops" and req.json()["text"] == "hello"
    assert (req.header("Authorization") or "").startswith("Bearer ")
    assert slack.alert_large_order(order, threshold=order.subtotal) is True
    assert f"Large order {order.id}" in transport.last.json()["text"]
    sent = len(transport.requests)
    assert slack.alert_large_order(order, threshold=order.subtotal + 1) is False
    assert len(transport.requests) == sent
    refused = client("slack", type(transport)().add("POST", "chat.postMessage",
                                                    json_body={"ok": False, "error": "channel_not_found"}))
    with pytest.raises(ValueError):
        refused.post("hello")
