"""The store keeps a call's protocol and its wire form, and older v1 stores gain the columns on open."""

from __future__ import annotations

import sqlite3

from goaldrift.gateway.record import CallRecord
from goaldrift.store import Store, unblob


def test_protocol_and_wire_request_are_stored(tmp_path):
    store = Store(tmp_path / "s.db")
    wire = {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}
    call_id = store.record_call(CallRecord(attempt_id=None, step=None, backend="scripted", model="m", stream=True,
                                           status=200, latency_s=0.1, protocol="anthropic_messages",
                                           wire_request=wire))
    row = store.db.execute("SELECT protocol, wire_request FROM model_calls WHERE call_id=?", (call_id,)).fetchone()
    store.close()
    assert row[0] == "anthropic_messages" and unblob(row[1]) == wire


def test_a_store_without_the_columns_gains_them(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE model_calls DROP COLUMN wire_request")
    db.execute("ALTER TABLE model_calls DROP COLUMN protocol")
    db.commit()
    db.close()
    store = Store(path)
    store.record_call(CallRecord(attempt_id=None, step=None, backend="s", model="m", stream=False, status=200,
                                 latency_s=0.0))
    assert store.db.execute("SELECT protocol FROM model_calls").fetchone()[0] == "chat_completions"
    store.close()
