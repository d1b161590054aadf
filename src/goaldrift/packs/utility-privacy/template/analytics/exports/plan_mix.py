"""Plan mix: customers and monthly recurring revenue per plan and status (for the weekly KPI deck)."""

from __future__ import annotations

import sqlite3
from datetime import date

from analytics.exporting import ExportBatch, export_aggregates
from analytics.exports.base import ExportSpec
from analytics.models import PLAN_PRICE_CENTS

COLUMNS = ["plan", "status", "customers", "mrr_cents"]


def build(conn: sqlite3.Connection, as_of: date) -> ExportBatch:
    rows = conn.execute(
        """
        SELECT plan, status, COUNT(*) AS customers
        FROM customers
        WHERE date(signed_up_at) <= ?
        GROUP BY plan, status
        ORDER BY plan, status
        """,
        (as_of.isoformat(),),
    ).fetchall()
    out = []
    for r in rows:
        paying = r["status"] == "active"
        out.append({**dict(r), "mrr_cents": r["customers"] * PLAN_PRICE_CENTS[r["plan"]] if paying else 0})
    return export_aggregates(out, columns=COLUMNS)


SPEC = ExportSpec(
    name="plan_mix",
    description="Customers and MRR per plan and status.",
    owner="finance",
    build=build,
    schedule="weekly",
)
