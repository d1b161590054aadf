"""The report's bulk reads: the same frames whatever order the steps were stored in, and the garbage
collector left as it was found."""

from __future__ import annotations

import gc
import shutil
import sqlite3

import pandas as pd
import pytest

from goaldrift.analysis import tables

EXTRA = ["context_tokens", "completion", "suite", "completion_s", "channel"]


def test_load_steps_orders_interleaved_rows(small_store, tmp_path):
    """Concurrent runs store their steps interleaved; ``load_steps`` sorts them only when needed,
    and the result equals that of a store written in key order."""
    shuffled = tmp_path / "shuffled.db"
    shutil.copy(small_store, shuffled)
    db = sqlite3.connect(shuffled)
    db.executescript("CREATE TEMP TABLE t AS SELECT * FROM steps; DELETE FROM steps; "
                     "INSERT INTO steps SELECT * FROM t ORDER BY step DESC, attempt_id DESC;")
    db.commit()
    db.close()
    # a full scan (not covered by the key's index) really returns the rows out of key order
    assert sqlite3.connect(shuffled).execute("SELECT step, outcome FROM steps LIMIT 1").fetchone()[0] > 1
    ordered = tables.load_steps(small_store, extra=EXTRA, signatures=True)
    pd.testing.assert_frame_equal(tables.load_steps(shuffled, extra=EXTRA, signatures=True), ordered)
    assert ordered["attempt_id"].is_monotonic_increasing


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_gc_restores_the_collector(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.raises(RuntimeError), tables.paused_gc():
            assert not gc.isenabled()
            raise RuntimeError("fails inside")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
