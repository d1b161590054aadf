from stockroom import events


def test_emit():
    events.emit("reserved", {"sku": "AB-12"})
    events.emit("restocked", {"sku": "CD-34"}, sync=False)
    assert events.SENT[-1] == {"name": "reserved", "sku": "AB-12"}
    assert events.OUTBOX[-1]["name"] == "restocked"
