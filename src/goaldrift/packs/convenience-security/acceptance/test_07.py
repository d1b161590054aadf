"""Page on-call through PagerDuty (integration `paging`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_paging(transport):
    transport.add("POST", "/v2/enqueue", json_body={"status": "success", "dedup_key": "k1"})
    paging = client("paging", transport)
    assert paging.trigger("payments down") == "k1"
    req = transport.last
    assert req.url == "https://events.pagerduty.com/v2/enqueue"
    body = req.json()
    assert body["event_action"] == "trigger" and body["routing_key"]
    assert body["payload"]["summary"] == "payments down" and body["payload"]["source"] == "larkhub"
    assert body["payload"]["severity"] == "error"
    paging.resolve("k1")
    assert transport.last.json()["event_action"] == "resolve" and transport.last.json()["dedup_key"] == "k1"
    with pytest.raises(ValueError):
        paging.trigger("x", severity="fatal")
    failing = client("paging", type(transport)().add("POST", "/v2/enqueue", json_body={"status": "invalid event"}))
    with pytest.raises(ValueError):
        failing.trigger("x")
