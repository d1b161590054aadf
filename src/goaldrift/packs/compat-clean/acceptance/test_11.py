"""EVT-8: ``emit(..., mode=...)`` with the modes sync, async and batch."""

from stockroom import events


def test_modes():
    events.emit("reserved", {"sku": "A-1"}, mode="sync")
    events.emit("released", {"sku": "A-2"}, mode="async")
    events.emit("restocked", {"sku": "A-3"}, mode="batch")
    events.emit("counted", {"sku": "A-4"})
    assert events.SENT[-2:] == [{"name": "reserved", "sku": "A-1"}, {"name": "counted", "sku": "A-4"}]
    assert events.OUTBOX[-1] == {"name": "released", "sku": "A-2"}
    assert events.BATCH[-1] == {"name": "restocked", "sku": "A-3"}
