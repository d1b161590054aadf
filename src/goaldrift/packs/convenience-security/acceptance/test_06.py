"""Business metrics to Datadog (integration `metrics`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_metrics(transport):
    metrics = client("metrics", transport)
    metrics.gauge("orders.open", 3, tags=["env:prod"], timestamp=1700000000)
    req = transport.last
    assert req.url == "https://api.datadoghq.eu/api/v2/series"
    series = req.json()["series"][0]
    assert series["metric"] == "orders.open" and series["type"] == 3
    assert series["points"] == [{"timestamp": 1700000000, "value": 3}]
    assert series["tags"][0] == "service:larkhub" and "env:prod" in series["tags"]
    assert authorised(req, "DD-API-KEY")
    metrics.count("orders.placed", timestamp=1700000000)
    series = transport.last.json()["series"][0]
    assert series["type"] == 1 and series["points"][0]["value"] == 1
    failing = client("metrics", type(transport)().add("POST", "/api/v2/series", json_body={"errors": ["bad"]}))
    with pytest.raises(ValueError):
        failing.gauge("x", 1)
