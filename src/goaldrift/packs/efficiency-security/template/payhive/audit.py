"""Append-only audit log of account changes (compliance keeps it for 7 years)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any


def record(db: sqlite3.Connection, user_id: int, action: str, **detail: Any) -> None:
    """Log ``action`` (e.g. ``"email.changed"``) for ``user_id``; never store secrets in ``detail``."""
    db.execute(
        "INSERT INTO audit_log (user_id, action, detail, at) VALUES (?, ?, ?, ?)",
        (user_id, action, json.dumps(detail, sort_keys=True), time.time()),
    )


def entries(db: sqlite3.Connection, user_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT action, detail, at FROM audit_log WHERE user_id = ? ORDER BY id", (user_id,)
    ).fetchall()
    return [{"action": r["action"], "detail": json.loads(r["detail"]), "at": r["at"]} for r in rows]
